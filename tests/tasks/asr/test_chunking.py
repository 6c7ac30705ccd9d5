"""Chunk planning on real speech: <=30 s windows, cut in pauses, covering every utterance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.conftest import EVAL_DIR, read_manifest
from tympan.audio import Audio, decode_audio
from tympan.tasks.asr import MAX_CHUNK_SECONDS, plan_chunks
from tympan.tasks.vad import FRAME_SECONDS, SileroVad, VadOptions


@pytest.fixture(scope="module")
def silero() -> SileroVad:
    return SileroVad()


def _joined(
    folder: str, gap: float, limit: int | None = None
) -> tuple[Audio, list[tuple[float, float]]]:
    """Real clips one after another with ``gap`` seconds of silence; and each clip's span."""
    pieces, spans, at = [], [], 0.0
    for row in read_manifest(folder)[:limit]:
        samples = decode_audio(EVAL_DIR / folder / row["audio"]).samples
        pieces += [samples, np.zeros(int(gap * 16_000), np.float32)]
        spans.append((at, at + samples.size / 16_000))
        at += samples.size / 16_000 + gap
    return Audio.from_array(np.concatenate(pieces)), spans


def test_long_reading_is_cut_into_full_windows_covering_every_clip(silero: SileroVad) -> None:
    audio, spans = _joined("asr_ljspeech", gap=0.8)
    chunks, vad = plan_chunks(silero.probabilities(audio), audio.duration)
    assert all(0 < chunk.duration <= MAX_CHUNK_SECONDS + 1e-6 for chunk in chunks)
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))
    for start, end in spans:
        middle = (start + end) / 2
        assert any(chunk.start <= middle <= chunk.end for chunk in chunks), (start, end)
    # windows are filled: few more than the speech strictly needs
    assert len(chunks) <= np.ceil(vad.speech_seconds / MAX_CHUNK_SECONDS) + 2
    assert np.mean([chunk.duration for chunk in chunks]) > 20


def test_speech_without_pauses_is_cut_at_its_last_pause(silero: SileroVad) -> None:
    """Cuts fall in pauses, as late as they fit: windows come out nearly full (the quietest
    frame anywhere past 10 s left them at 23.5 s on average on the long-form chapter)."""
    audio, _ = _joined("asr_accents", gap=0.0, limit=12)  # ~2.5 min of reading, no added gaps
    probabilities = silero.probabilities(audio)
    chunks, _ = plan_chunks(probabilities, audio.duration, speech_only=False)
    assert chunks[0].start == 0.0 and chunks[-1].end == pytest.approx(audio.duration, abs=0.01)
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))
    assert all(chunk.duration <= MAX_CHUNK_SECONDS + 1e-6 for chunk in chunks)
    cuts = [int(chunk.end / FRAME_SECONDS) for chunk in chunks[:-1]]
    assert all(probabilities[cuts] < 0.2), probabilities[cuts]
    assert np.mean([chunk.duration for chunk in chunks[:-1]]) > 25  # 18 s at the quietest frame


def test_silence_has_no_chunks_unless_everything_is_kept(silero: SileroVad) -> None:
    silence = Audio.from_array(np.zeros(16_000 * 45, np.float32))
    probabilities = silero.probabilities(silence)
    assert plan_chunks(probabilities, silence.duration)[0] == []
    kept, _ = plan_chunks(probabilities, silence.duration, speech_only=False)
    assert sum(chunk.duration for chunk in kept) == pytest.approx(45.0)


def test_vad_options_decide_the_speech_segments(silero: SileroVad) -> None:
    """chunking_strategy's server_vad fields reach the planner: short silences split more."""
    audio = decode_audio(EVAL_DIR / "diarization" / "sample.wav")
    probabilities = silero.probabilities(audio)
    _, tuned = plan_chunks(probabilities, audio.duration)
    _, fine = plan_chunks(
        probabilities,
        audio.duration,
        vad_options=VadOptions(threshold=0.5, min_silence_ms=100, speech_pad_ms=30),
    )
    _, strict = plan_chunks(
        probabilities, audio.duration, vad_options=VadOptions(threshold=0.95, min_silence_ms=500)
    )
    assert len(fine.segments) > len(tuned.segments)
    speech = [sum(s.end - s.start for s in result.segments) for result in (tuned, strict)]
    assert speech[1] < speech[0]
