"""``enhance_audio`` and ``EnhancementStream`` over every bundled enhancer, on real noisy speech."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soxr

from tests.noisy_speech import si_sdr_db
from tympan.audio import Audio, decode_audio
from tympan.config import SAMPLE_RATE
from tympan.tasks.enhancement import EnhancementStream, Enhancer, enhance_audio, enhance_samples


def test_enhancing_raises_si_sdr_and_keeps_length(
    enhancer: Enhancer, clean_speech: Audio, noisy_speech: Audio
) -> None:
    enhanced = enhance_audio(enhancer, noisy_speech)
    assert enhanced.sample_rate == SAMPLE_RATE
    assert enhanced.samples.dtype == np.float32
    assert enhanced.samples.shape == noisy_speech.samples.shape
    before = si_sdr_db(noisy_speech.samples, clean_speech.samples)
    after = si_sdr_db(enhanced.samples, clean_speech.samples)
    assert after > before + 1.0, (before, after)


def test_small_blocks_give_the_whole_file_result(enhancer: Enhancer, noisy_speech: Audio) -> None:
    whole = enhance_audio(enhancer, noisy_speech).samples
    block = int(0.37 * SAMPLE_RATE)  # not a multiple of any frame
    pieces = list(enhance_samples(enhancer.session(), noisy_speech.samples, block))
    streamed = np.concatenate(pieces)
    assert streamed.shape == whole.shape
    # bounded per step: spectral gating gathers 4 s with 1 s of context, frame models a frame
    assert max(len(piece) for piece in pieces) <= 5 * SAMPLE_RATE
    assert si_sdr_db(streamed, whole) > 25.0


def test_empty_audio_stays_empty(enhancer: Enhancer) -> None:
    enhanced = enhance_audio(enhancer, Audio.from_array(np.zeros(0, np.float32)))
    assert enhanced.samples.shape == (0,)


def test_silence_stays_silent_and_finite(enhancer: Enhancer) -> None:
    silence = Audio.from_array(np.zeros(2 * SAMPLE_RATE, np.float32))
    enhanced = enhance_audio(enhancer, silence).samples
    assert enhanced.shape == silence.samples.shape
    assert np.all(np.isfinite(enhanced))
    assert float(np.max(np.abs(enhanced))) < 1e-3


def test_clipped_audio_comes_back_finite_and_in_range(
    enhancer: Enhancer, noisy_speech: Audio
) -> None:
    clipped = Audio.from_array(np.clip(noisy_speech.samples * 20, -1, 1))
    enhanced = enhance_audio(enhancer, clipped).samples
    assert np.all(np.isfinite(enhanced))
    assert enhanced.shape == clipped.samples.shape


def test_telephone_audio_is_enhanced_after_the_boundary(enhancer: Enhancer, eval_dir) -> None:
    digit = decode_audio(eval_dir / "fsdd" / "audio" / "0_george_0.flac")  # 8 kHz source
    assert digit.sample_rate == SAMPLE_RATE
    assert enhance_audio(enhancer, digit).samples.shape == digit.samples.shape


def test_audio_at_another_rate_is_refused(enhancer: Enhancer) -> None:
    wrong = Audio(np.zeros(8000, np.float32), sample_rate=8000)
    with pytest.raises(ValueError, match="16000"):
        enhance_audio(enhancer, wrong)


@pytest.mark.parametrize("response_format", ["wav", "flac", "pcm"])
def test_stream_encodes_the_enhanced_audio(
    rnnoise: Enhancer, noisy_speech: Audio, response_format: str
) -> None:
    stream = EnhancementStream(rnnoise, noisy_speech, response_format)  # type: ignore[arg-type]
    chunks = []
    while (chunk := stream.next_chunk()) is not None:
        chunks.append(chunk)
    data = b"".join(chunks)
    if response_format == "pcm":
        raw = np.frombuffer(data, "<i2").astype(np.float32) / 32768
        samples = soxr.resample(raw, stream.sample_rate, SAMPLE_RATE)
    else:
        samples = decode_audio(io.BytesIO(data)).samples
    expected = enhance_audio(rnnoise, noisy_speech).samples
    assert abs(samples.shape[0] - expected.shape[0]) <= 1
    n = min(samples.shape[0], expected.shape[0])
    assert si_sdr_db(samples[:n], expected[:n]) > 25.0


def test_closing_a_stream_early_releases_its_session(
    deepfilternet: Enhancer, noisy_speech: Audio
) -> None:
    stream = EnhancementStream(deepfilternet, noisy_speech, "wav")
    assert stream.next_chunk()
    stream.close()
    stream.close()  # twice is harmless
