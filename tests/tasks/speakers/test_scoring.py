"""Cosine verification and one-matmul open-set identification on real voices."""

from __future__ import annotations

import numpy as np
import pytest

from tests.speaker_data import utterances
from tympan.audio import decode_audio
from tympan.errors import InvalidParameter
from tympan.tasks.speakers import VoiceprintIndex, check_threshold, l2_normalise, verify

THRESHOLD = 0.759


@pytest.fixture(scope="module")
def enrolled(ge2e) -> tuple[VoiceprintIndex, dict[str, list[np.ndarray]]]:
    voices = {
        speaker: [ge2e.embed(decode_audio(p)) for p in paths[:3]]
        for speaker, paths in list(utterances().items())[:4]
    }
    prints = l2_normalise(np.stack([np.mean(v[:2], axis=0) for v in voices.values()]))
    index = VoiceprintIndex(list(voices), [f"name-{s}" for s in voices], prints)
    return index, voices


def test_verify_decides_at_threshold(enrolled) -> None:
    _, voices = enrolled
    first, second = list(voices.values())[:2]
    same = verify("m", first[0], first[2], THRESHOLD)
    other = verify("m", first[0], second[2], THRESHOLD)
    assert same.same_speaker and not other.same_speaker and same.score > other.score
    assert verify("m", first[0], first[2], same.score).same_speaker  # ">=" at the threshold


def test_identify_ranks_the_true_speaker_first(enrolled) -> None:
    index, voices = enrolled
    for speaker, embeddings in voices.items():
        result = index.identify("m", embeddings[2], THRESHOLD, top_k=3)
        assert result.speaker is not None and result.speaker.speaker_id == speaker
        assert len(result.ranking) == 3
        assert [c.score for c in result.ranking] == sorted(
            (c.score for c in result.ranking), reverse=True
        )


def test_identify_open_set_returns_none_for_a_stranger(enrolled, ge2e) -> None:
    index, _ = enrolled
    stranger_path = list(utterances().values())[-1][0]
    result = index.identify("m", ge2e.embed(decode_audio(stranger_path)), THRESHOLD)
    assert result.speaker is None
    assert result.ranking and result.ranking[0].score < THRESHOLD


def test_identify_with_no_voiceprints() -> None:
    empty = VoiceprintIndex([], [], np.zeros((0, 0), np.float32))
    result = empty.identify("m", np.ones(4, np.float32) / 2, THRESHOLD)
    assert result.speaker is None and result.ranking == []


def test_threshold_range() -> None:
    assert check_threshold(-1.0) == -1.0
    with pytest.raises(InvalidParameter):
        check_threshold(1.5)


def test_request_references_join_the_index_and_replace_a_same_named_speaker() -> None:
    enrolled = VoiceprintIndex(["id-ann", "id-bob"], ["Ann", "Bob"], np.eye(2, 3, dtype=np.float32))
    joined = enrolled.with_references(["ANN", "Cy"], np.array([[0, 0, 1], [0, 1, 0]], np.float32))
    assert joined.ids == ["id-bob", None, None] and joined.names == ["Bob", "ANN", "Cy"]
    assert joined.matrix.shape == (3, 3) and joined.matrix[1].tolist() == [0, 0, 1]
    empty = VoiceprintIndex([], [], np.zeros((0, 0), np.float32))
    only = empty.with_references(["Di"], np.ones((1, 4), np.float32))
    assert only.names == ["Di"] and only.matrix.shape == (1, 4)
