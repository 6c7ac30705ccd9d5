"""Every bundled enhancer on real noisy speech: cleaner, same length, block-wise = whole."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.noisy_audio import noisy_speech
from tympan.audio import Audio
from tympan.audio.encode import FORMATS
from tympan.config import SAMPLE_RATE, Settings
from tympan.tasks.enhancement import (
    EnhancementStream,
    PartedEnhancement,
    enhance_audio,
    model_specs,
)
from tympan.tasks.enhancement.snr import si_sdr
from tympan.tasks.enhancement.stream import WARM_UP_SECONDS, _even_work_spans

SPECS = {spec.id: spec for spec in model_specs(Settings())}


@pytest.fixture(scope="module", params=sorted(SPECS))
def enhancer(request: pytest.FixtureRequest):
    return request.param, SPECS[request.param].load()


def test_each_enhancer_improves_si_sdr_and_keeps_length_and_timing(enhancer) -> None:
    name, model = enhancer
    noisy, clean = noisy_speech(0.0)
    out = enhance_audio(model, Audio.from_array(noisy))
    assert out.samples.shape == noisy.shape and out.samples.dtype == np.float32
    assert np.all(np.isfinite(out.samples))
    gain = si_sdr(clean, out.samples) - si_sdr(clean, noisy)
    assert gain > 1.0, f"{name}: SI-SDR gain {gain:.2f} dB at 0 dB SNR"


def test_streamed_encoding_decodes_to_the_whole_file_result(enhancer) -> None:
    name, model = enhancer
    noisy, _ = noisy_speech(5.0)
    audio = Audio.from_array(np.tile(noisy, 6))  # ~11 s: two blocks
    stream = EnhancementStream(model, audio, "pcm")
    chunks = []
    while (chunk := stream.next_chunk()) is not None:
        chunks.append(chunk)
    stream.close()
    assert len(chunks) >= 2, "one chunk per block, not one at the end"
    pcm = np.frombuffer(b"".join(chunks), np.int16).astype(np.float32) / 32768
    rate = stream.sample_rate
    assert rate == FORMATS["pcm"].rate or rate == SAMPLE_RATE
    whole = enhance_audio(model, audio).samples
    if rate == SAMPLE_RATE:
        assert pcm.shape[0] == whole.shape[0]
        assert np.max(np.abs(pcm - whole)) < 2e-3, name  # int16 rounding only


def test_silence_and_a_few_samples_come_back_as_long_as_they_went_in(enhancer) -> None:
    _, model = enhancer
    for samples in (np.zeros(SAMPLE_RATE, np.float32), np.zeros(50, np.float32)):
        out = enhance_audio(model, Audio.from_array(samples))
        assert out.samples.shape == samples.shape
        assert np.all(np.isfinite(out.samples)) and np.max(np.abs(out.samples)) < 0.05


def test_audio_at_another_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="16000"):
        enhance_audio(SPECS["rnnoise"].load(), Audio(np.zeros(8000, np.float32), sample_rate=8000))


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_parts_cover_the_recording_and_cost_the_same_with_their_warm_up(parts: int) -> None:
    total, lead = 60 * SAMPLE_RATE + 7, int(WARM_UP_SECONDS * SAMPLE_RATE)
    spans = _even_work_spans(total, parts, lead)
    assert spans[0][0] == 0 and spans[-1][1] == total and len(spans) == parts
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(spans))
    work = [end - start + (lead if start else 0) for start, end in spans]
    assert max(work) - min(work) <= parts


def test_parts_for_replicas_cover_the_recording_each_after_its_lead_in() -> None:
    total, lead = int(45.5 * SAMPLE_RATE), int(WARM_UP_SECONDS * SAMPLE_RATE)
    recording = np.arange(total, dtype=np.float32)
    parts = list(iter(PartedEnhancement(Audio.from_array(recording), "pcm").next_part, None))
    assert [part_lead for _, part_lead in parts] == [0, lead, lead]
    assert np.array_equal(np.concatenate([part[cut:] for part, cut in parts]), recording)
    empty = PartedEnhancement(Audio.from_array(np.zeros(0, np.float32)), "pcm")
    assert [part.size for part, _ in iter(empty.next_part, None)] == [0]
