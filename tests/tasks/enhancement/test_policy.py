"""``noise_reduction`` values to enhancers, and ``auto`` per task family, on real mixtures."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.conftest import EVAL_DIR, read_manifest
from tests.noisy_audio import SPEECH, noisy_speech
from tympan.audio import Audio, decode_audio
from tympan.audio.encode import encode_audio
from tympan.config import SAMPLE_RATE
from tympan.errors import InvalidParameter
from tympan.tasks.enhancement import (
    ENHANCEMENT_TASK,
    NOISE_REDUCTION_POLICY,
    TASK_FAMILIES,
    enhance_audio,
    estimate_snr_db,
    reduce_noise,
)
from tympan.tasks.enhancement.policy import AutoRule
from tympan.tasks.enhancement.snr import mix_at_snr

ENHANCERS = ["deepfilternet3", "rnnoise", "noisereduce"]
NOISY = Audio.from_array(noisy_speech(-5.0)[0])
CLEAN = decode_audio(SPEECH)


def noisy_under(snr_db: float) -> Audio:
    """LJ001-0002 mixed at -5 dB with the first test-split noise whose mixture's estimated
    SNR is under ``snr_db`` (bursty noises read higher than steady ones)."""
    speech = CLEAN.samples
    for row in read_manifest("noise"):
        if row["split"] == "test":
            noise = decode_audio(EVAL_DIR / "noise" / row["audio"]).samples
            mixture = Audio.from_array(mix_at_snr(speech, noise, -5.0, np.random.default_rng(0))[0])
            if estimate_snr_db(mixture) < snr_db:
                return mixture
    raise AssertionError(f"no test noise mixes under an estimated {snr_db} dB")


def test_named_choices_and_model_ids() -> None:
    audio = Audio.from_array(np.zeros(16_000, np.float32))

    def model(choice: str) -> str | None:
        return NOISE_REDUCTION_POLICY.model_for(choice, audio, ENHANCERS, "transcription")

    assert model("none") is None
    assert model("near_field") == "rnnoise"
    assert model("far_field") == "deepfilternet3"
    assert model("noisereduce") == "noisereduce"
    with pytest.raises(InvalidParameter) as error:
        model("loud")
    assert error.value.param == "noise_reduction" and "near_field" in error.value.message


def test_every_family_has_a_rule_and_measured_families_enhance() -> None:
    families = set(TASK_FAMILIES.values())
    assert families == set(NOISE_REDUCTION_POLICY.auto)
    chosen = {f for f, rule in NOISE_REDUCTION_POLICY.auto.items() if rule.model is not None}
    assert chosen and chosen <= families - {"classifier"}  # classifiers were not measured


def test_a_rule_enhances_only_under_its_snr_threshold() -> None:
    rule = AutoRule("rnnoise", 5.0)
    assert rule.model_for(NOISY) == "rnnoise"
    assert rule.model_for(CLEAN) is None
    assert AutoRule(None).model_for(NOISY) is None


@pytest.mark.parametrize("task", sorted(TASK_FAMILIES))
def test_auto_runs_the_family_enhancer_on_noise_and_not_on_clean_speech(task, services) -> None:
    """Through the model manager, as the endpoints call it: the enhancer each family chose
    runs on a -5 dB mixture (the audio changes) and nothing runs on clean speech."""
    rule = NOISE_REDUCTION_POLICY.auto[TASK_FAMILIES[task]]

    def reduce(audio: Audio) -> Audio:
        return asyncio.run(
            reduce_noise(services.manager, NOISE_REDUCTION_POLICY, audio, "auto", task)
        )

    assert reduce(CLEAN) is CLEAN
    if rule.model is None:
        assert reduce(NOISY) is NOISY
    else:
        noisy = noisy_under(rule.snr_db)
        expected = asyncio.run(
            services.manager.infer(rule.model, enhance_audio, noisy, task=ENHANCEMENT_TASK)
        )
        enhanced = reduce(noisy)
        assert not np.allclose(enhanced.samples, noisy.samples, atol=1e-3)
        np.testing.assert_allclose(enhanced.samples, expected.samples, atol=1e-5)
    with pytest.raises(InvalidParameter) as error:
        asyncio.run(reduce_noise(services.manager, NOISE_REDUCTION_POLICY, NOISY, "loudly", task))
    assert error.value.param == "noise_reduction"


def test_endpoints_name_their_task(api) -> None:
    """``auto`` on the embed endpoint runs the speaker family's choice (its voiceprint is the
    one that enhancer gives) and on transcription the ASR family's."""
    rule = NOISE_REDUCTION_POLICY.auto["speakers"]
    data = encode_audio(noisy_under(rule.snr_db).samples, SAMPLE_RATE, "wav")

    def embedding(choice: str) -> np.ndarray:
        fields = {"noise_reduction": choice}
        return np.array(api.post_audio("/v1/speakers/embed", data, fields).json()["embedding"])

    auto = embedding("auto")
    np.testing.assert_allclose(auto, embedding(rule.model or "none"), atol=1e-5)
    if rule.model is not None:
        assert not np.allclose(auto, embedding("none"), atol=1e-3)
    asr = NOISE_REDUCTION_POLICY.auto["asr"]
    text = api.transcribe(data, noise_reduction="auto").text
    assert text == api.transcribe(data, noise_reduction=asr.model or "none").text
