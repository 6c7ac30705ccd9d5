"""CTranslate2 <-> transformers Whisper weights: the round trip decodes to the same text."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import ctranslate2
import numpy as np
import pytest
import torch
from faster_whisper import WhisperModel
from transformers import WhisperForConditionalGeneration

from tests.tasks.adaptation.conftest import general_clips, tiny_en_path
from tympan.audio import decode_audio
from tympan.errors import TympanError
from tympan.tasks.adaptation.features import log_mel
from tympan.tasks.adaptation.weights import (
    BUILDING_MODELS,
    read_model_bin,
    to_ctranslate2,
    to_transformers,
    transformers_encoder,
)


def _transcripts(model_dir: Path, clips: list[Path], compute_type: str = "int8") -> list[str]:
    model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=2)
    texts = []
    for clip in clips:
        segments, _ = model.transcribe(
            decode_audio(clip).samples, beam_size=1, language="en", without_timestamps=True
        )
        texts.append(" ".join(segment.text.strip() for segment in segments))
    return texts


def test_round_trip_keeps_every_tensor_and_the_config(tiny_transformers, tmp_path) -> None:
    back = to_ctranslate2(tiny_transformers, tmp_path / "float16", quantization="float16")
    original, converted = (
        read_model_bin(tiny_en_path() / "model.bin"),
        read_model_bin(back / "model.bin"),
    )
    assert set(original) <= set(converted)
    for name, tensor in original.items():
        assert np.array_equal(tensor, converted[name]), name
    assert json.loads((back / "config.json").read_text()) == json.loads(
        (tiny_en_path() / "config.json").read_text()
    )
    vocabulary = (tiny_en_path() / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert json.loads((back / "vocabulary.json").read_text()) == vocabulary


def test_round_trip_int8_decodes_like_the_bundled_model(tiny_transformers, tmp_path) -> None:
    back = to_ctranslate2(tiny_transformers, tmp_path / "int8")
    clips = general_clips()
    expected = _transcripts(tiny_en_path(), clips)
    assert all(expected)
    assert _transcripts(back, clips) == expected


def test_transformers_agrees_with_ctranslate2_token_by_token(tiny_transformers) -> None:
    """The same features through both runtimes: same encoder output, and at every step of
    CTranslate2's greedy decode the transformers model picks the same token with the same
    probability (so a greedy loop over it yields the same text): the weights map, tensor by
    tensor, not only the round trip."""
    with BUILDING_MODELS:
        model = WhisperForConditionalGeneration.from_pretrained(tiny_transformers).eval()
    reference = ctranslate2.models.Whisper(str(tiny_en_path()), compute_type="float32")
    config = model.generation_config
    prompt = [config.decoder_start_token_id, config.no_timestamps_token_id]
    for clip in general_clips(per_set=1):
        features = log_mel(decode_audio(clip).samples)[None]
        view = ctranslate2.StorageView.from_array(features)
        result = reference.generate(view, [prompt], beam_size=1, return_scores=True)[0]
        tokens = torch.tensor([[*prompt, *result.sequences_ids[0], config.eos_token_id]])
        with torch.inference_mode():
            encoded = model.model.encoder(torch.from_numpy(features)).last_hidden_state
            logits = model(
                input_features=torch.from_numpy(features), decoder_input_ids=tokens[:, :-1]
            ).logits
        assert np.abs(np.asarray(reference.encode(view)) - encoded.numpy()).max() < 1e-3
        log_probs = torch.log_softmax(logits[0, len(prompt) - 1 :], dim=-1)
        chosen = tokens[0, len(prompt) :]
        assert torch.equal(log_probs.argmax(dim=-1), chosen)
        mean_log_prob = log_probs.gather(1, chosen[:, None]).mean().item()
        assert mean_log_prob == pytest.approx(result.scores[0], abs=0.01)


def test_models_are_built_one_at_a_time() -> None:
    """``transformers`` builds under process-wide patches it undoes afterwards, so two builds at
    once (a fine-tune job beside a classifier's encoder) can leave one in place for good:
    every build Tympan makes waits for ``BUILDING_MODELS``, and the patches are undone."""
    from transformers import PreTrainedModel

    tie_weights = PreTrainedModel.tie_weights
    built = threading.Event()
    with BUILDING_MODELS:
        builder = threading.Thread(
            target=lambda: (transformers_encoder(tiny_en_path()), built.set())
        )
        builder.start()
        assert not built.wait(1.0)  # it waits for the lock
    assert built.wait(60)
    builder.join()
    assert PreTrainedModel.tie_weights is tie_weights


def test_a_model_bin_of_another_version_is_refused(tmp_path) -> None:
    broken = tmp_path / "model.bin"
    broken.write_bytes((5).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(TympanError, match="binary version 5"):
        read_model_bin(broken)


@pytest.mark.slow
def test_base_round_trip_decodes_like_the_bundled_model(tmp_path) -> None:
    from tympan.tasks.asr.models import assemble_base_model

    base = assemble_base_model(tmp_path / "base")
    back = to_ctranslate2(to_transformers(base, tmp_path / "hf"), tmp_path / "int8")
    clips = general_clips(per_set=2)
    assert _transcripts(back, clips) == _transcripts(base, clips)
