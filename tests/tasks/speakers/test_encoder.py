"""What every encoder guarantees: unit-length embeddings, clear refusals for unusable audio."""

from __future__ import annotations

import numpy as np
import pytest

from tests.speaker_data import utterances
from tympan.audio import Audio, decode_audio
from tympan.errors import InvalidAudio
from tympan.tasks.speakers import SpeakerEncoder, embed_audio, l2_normalise
from tympan.tasks.speakers.encoder import mean_per_clip


@pytest.mark.parametrize("name", ["ge2e", "dvector"])
def test_same_speaker_scores_above_different_speakers(name: str, request) -> None:
    encoder: SpeakerEncoder = request.getfixturevalue(name)
    voices = utterances()
    a1, a2 = (encoder.embed(decode_audio(p)) for p in voices["1998"][:2])
    b1 = encoder.embed(decode_audio(voices["2609"][0]))
    c1 = encoder.embed(decode_audio(voices["3331"][0]))
    same = float(a1 @ a2)
    assert same > float(a1 @ b1) and same > float(a1 @ c1) and same > float(a2 @ c1)


def test_refuses_silence_and_too_short_audio(ge2e: SpeakerEncoder) -> None:
    with pytest.raises(InvalidAudio, match="silent"):
        ge2e.embed(Audio.from_array(np.zeros(16_000, np.float32)))
    with pytest.raises(InvalidAudio, match="at least"):
        ge2e.embed(Audio.from_array(np.full(800, 0.1, np.float32)))


def test_embed_audio_record(ge2e: SpeakerEncoder) -> None:
    audio = decode_audio(utterances()["1688"][0])
    record = embed_audio(ge2e, "resemblyzer-ge2e", audio)
    assert record.dim == len(record.embedding) == 256
    assert record.duration == pytest.approx(audio.duration, abs=1e-3)
    assert abs(np.linalg.norm(record.embedding) - 1.0) < 1e-5


def test_helpers() -> None:
    rows = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]])
    means = mean_per_clip(np.array([[1.0], [3.0], [10.0]]), [2, 1])
    np.testing.assert_allclose(means, [[2.0], [10.0]])


@pytest.mark.parametrize(("name", "agreement"), [("ge2e", 0.99999), ("dvector", 0.999)])
def test_long_audio_is_embedded_in_bounded_batches(name, agreement, request, monkeypatch):
    encoder: SpeakerEncoder = request.getfixturevalue(name)
    clip = decode_audio(utterances()["2414"][0]).samples
    whole = encoder.embed_clips([clip])[0]
    monkeypatch.setattr(encoder, "max_batch", 2)
    assert float(encoder.embed_clips([clip])[0] @ whole) > agreement  # int8: per-run scales


@pytest.mark.parametrize("name", ["ge2e", "dvector"])
def test_an_embedding_does_not_depend_on_its_batch(name: str, request) -> None:
    encoder: SpeakerEncoder = request.getfixturevalue(name)
    first, second = (decode_audio(p).samples for p in utterances()["533"][:2])
    together = encoder.embed_clips([first, second])
    np.testing.assert_allclose(together[0], encoder.embed_clips([first])[0], atol=1e-5)
