"""VAD methods find the reference speech of real conversations, and nothing in silence."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import EVAL_DIR
from tympan.audio import Audio, decode_audio
from tympan.errors import InvalidParameter
from tympan.tasks.vad import SileroVad, VadOptions, detect_speech, frame_probabilities
from tympan.tasks.vad.segments import FRAME_SECONDS, to_segments


def reference_mask(rttm_name: str, duration: float, step: float = 0.01) -> np.ndarray:
    """Speech = union of the RTTM turns, sampled every ``step`` seconds."""
    mask = np.zeros(round(duration / step), bool)
    for line in (EVAL_DIR / "diarization" / rttm_name).read_text().splitlines():
        fields = line.split()
        start, length = float(fields[3]), float(fields[4])
        mask[int(start / step) : int((start + length) / step)] = True
    return mask


def hypothesis_mask(result, duration: float, step: float = 0.01) -> np.ndarray:
    mask = np.zeros(round(duration / step), bool)
    for segment in result.segments:
        mask[int(segment.start / step) : int(segment.end / step)] = True
    return mask


def frame_f1(reference: np.ndarray, hypothesis: np.ndarray) -> float:
    hits = np.sum(reference & hypothesis)
    return 2 * hits / (reference.sum() + hypothesis.sum())


@pytest.fixture(scope="module")
def silero() -> SileroVad:
    return SileroVad()


@pytest.fixture(scope="module")
def conversation() -> Audio:
    return decode_audio(EVAL_DIR / "diarization" / "sample.wav")


@pytest.mark.parametrize(
    ("method", "minimum_f1"),
    [("silero", 0.97), ("energy", 0.95), ("spectral", 0.95), ("fusion", 0.97)],
)
def test_methods_match_reference_turns(
    conversation, silero, method: str, minimum_f1: float
) -> None:
    result = detect_speech(conversation, method, silero=silero)  # type: ignore[arg-type]
    reference = reference_mask("sample.rttm", conversation.duration)
    assert frame_f1(reference, hypothesis_mask(result, conversation.duration)) >= minimum_f1
    if method in ("silero", "fusion"):  # the first 6.7 s hold no speech, only noises
        assert result.segments[0].start > 6.0
    assert 0.6 < result.speech_ratio < 0.85
    assert all(0.0 <= s.confidence <= 1.0 and s.start < s.end for s in result.segments)


def test_meeting_recall_is_useful(silero) -> None:
    audio = decode_audio(EVAL_DIR / "diarization" / "ami_EN2002a_0000_0030.flac")
    reference = reference_mask("ami_EN2002a_0000_0030.rttm", audio.duration)
    result = detect_speech(audio, "silero", silero=silero)
    assert frame_f1(reference, hypothesis_mask(result, audio.duration)) > 0.85


@pytest.mark.parametrize("method", ["silero", "energy", "spectral", "fusion"])
def test_digital_silence_has_no_speech(silero, method: str) -> None:
    silence = Audio.from_array(np.zeros(16_000 * 3, np.float32))
    result = detect_speech(silence, method, silero=silero)  # type: ignore[arg-type]
    assert result.segments == [] and result.speech_ratio == 0.0


def test_silero_ignores_steady_noise(silero) -> None:
    noise = np.random.default_rng(0).normal(0, 0.05, 16_000 * 3).astype(np.float32)
    assert detect_speech(Audio.from_array(noise), "silero", silero=silero).segments == []


def test_options_shape_segments() -> None:
    probabilities = np.zeros(100, np.float32)
    probabilities[10:20] = 0.9  # 0.32 s of speech
    probabilities[23:40] = 0.9  # a 96 ms gap, then 0.54 s
    duration = 100 * FRAME_SECONDS
    merged = to_segments(probabilities, duration, "x", VadOptions(speech_pad_ms=0))
    assert len(merged.segments) == 1
    assert merged.segments[0].start == pytest.approx(10 * FRAME_SECONDS, abs=1e-3)
    split = to_segments(
        probabilities, duration, "x", VadOptions(min_silence_ms=50, speech_pad_ms=0)
    )
    assert len(split.segments) == 2
    strict = to_segments(probabilities, duration, "x", VadOptions(min_speech_ms=2000))
    assert strict.segments == []
    padded = to_segments(probabilities, duration, "x", VadOptions(speech_pad_ms=100))
    assert padded.segments[0].start == pytest.approx(10 * FRAME_SECONDS - 0.1, abs=1e-3)


@pytest.mark.parametrize(
    "options",
    [VadOptions(threshold=1.5), VadOptions(neg_threshold=0.9), VadOptions(min_speech_ms=-1)],
)
def test_bad_options(options: VadOptions) -> None:
    with pytest.raises(InvalidParameter):
        options.validate()


def test_silero_method_needs_the_model(conversation) -> None:
    with pytest.raises(InvalidParameter):
        detect_speech(conversation, "silero", silero=None)


def test_silero_scores_a_stream_chunk_by_chunk_as_it_scores_the_whole_recording(silero):
    """Live audio carries the LSTM state and context over: same probabilities, any split."""
    from tympan.tasks.vad import SileroState
    from tympan.tasks.vad.segments import grid_blocks

    audio = decode_audio(EVAL_DIR / "diarization" / "sample.wav")
    whole = silero.probabilities(audio)
    frames = np.concatenate(list(grid_blocks(audio)))
    state, pieces, start = SileroState.initial(), [], 0
    for size in [1, 7, 30, 2, 64, 13] * 40:
        probabilities, state = silero.score_frames(frames[start : start + size], state)
        pieces.append(probabilities)
        start += size
    streamed = np.concatenate(pieces)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-4)


@pytest.mark.parametrize("method", ["silero", "energy", "spectral"])
def test_blocks_give_the_same_probabilities_as_one_pass(eval_dir, method, monkeypatch) -> None:
    """Long audio is scored a block at a time (Silero's state carried across blocks)."""
    import tympan.tasks.vad.segments as segments

    audio = decode_audio(eval_dir / "diarization" / "sample.wav")
    silero = SileroVad()
    monkeypatch.setattr(segments, "BLOCK_FRAMES", 100)  # 30 s = 10 blocks
    blocked = frame_probabilities(audio, method, silero)
    monkeypatch.setattr(segments, "BLOCK_FRAMES", 1_000_000)
    whole = frame_probabilities(audio, method, silero)
    assert blocked.shape == whole.shape == (segments.frame_count(audio.samples.size),)
    np.testing.assert_allclose(blocked, whole, atol=1e-6)


def test_a_long_recording_scored_in_parts_gives_the_same_chunks_as_one_pass():
    from tympan.tasks.asr.chunking import plan_chunks

    chapter = decode_audio(EVAL_DIR / "longform" / "lj001.opus")
    audio = Audio(chapter.samples[: 300 * 16_000])  # 5 min: two parts of 2.5 min
    whole, parted = SileroVad(parts=1), SileroVad(parts=2)
    try:
        one, two = whole.probabilities(audio), parted.probabilities(audio)
    finally:
        parted.close()
    assert one.shape == two.shape
    assert np.abs(one - two).mean() < 0.01  # the second part's LSTM starts warmed up
    assert np.count_nonzero(one != two) > 0  # it was scored in parts (from another start)
    assert plan_chunks(one, audio.duration)[0] == plan_chunks(two, audio.duration)[0]
