"""Resemblyzer's GE2E encoder as rebuilt here gives resemblyzer's own embeddings."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from tests.speaker_data import utterances
from tympan.audio import decode_audio
from tympan.tasks.speakers import SpeakerEncoder
from tympan.tasks.speakers.ge2e import _raise_volume


@pytest.fixture(scope="module")
def resemblyzer_encoder():
    # ``import resemblyzer`` imports webrtcvad, whose 2017 release reads its version through
    # pkg_resources (absent from current setuptools); a stand-in lets the reference load.
    stand_in = types.SimpleNamespace(
        get_distribution=lambda name: types.SimpleNamespace(version="0")
    )
    previous = sys.modules.setdefault("pkg_resources", stand_in)  # type: ignore[arg-type]
    try:
        from resemblyzer import VoiceEncoder

        return VoiceEncoder("cpu", verbose=False)
    finally:
        if previous is stand_in:
            del sys.modules["pkg_resources"]


def test_matches_resemblyzer_voice_encoder(ge2e: SpeakerEncoder, resemblyzer_encoder) -> None:
    for path in [utterances()["1688"][0], utterances()["367"][3]]:
        audio = decode_audio(path)
        reference = resemblyzer_encoder.embed_utterance(_raise_volume(audio.samples))
        ours = ge2e.embed(audio)
        assert float(ours @ reference) > 0.9999
        np.testing.assert_allclose(ours, reference, atol=2e-3)


def test_batch_equals_one_by_one(ge2e: SpeakerEncoder) -> None:
    clips = [decode_audio(p).samples for p in utterances()["2033"][:3]]
    batch = ge2e.embed_clips(clips)
    single = np.stack([ge2e.embed_clips([clip])[0] for clip in clips])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
