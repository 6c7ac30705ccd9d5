"""Batched decoding: chunks of different requests (prompts, options) in one call, all correct."""

from __future__ import annotations

import itertools
import logging
import re

import jiwer
import numpy as np
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from tests.conftest import EVAL_DIR, read_manifest
from tympan.audio import decode_audio
from tympan.config import Settings
from tympan.tasks.asr import (
    ChunkJob,
    DecodeOptions,
    WhisperHandle,
    decode_chunks,
    load_whisper,
    plan_chunks,
)
from tympan.tasks.asr.models import _tiny_en_path
from tympan.tasks.vad.silero import SileroVad

_normalize = EnglishTextNormalizer()


@pytest.fixture(scope="module")
def tiny() -> WhisperHandle:
    return load_whisper(_tiny_en_path(), "tiny", Settings(_env_file=None))  # type: ignore[call-arg]


def test_one_call_serves_mixed_prompts_and_options(tiny: WhisperHandle) -> None:
    rows = read_manifest("asr_ljspeech")[:5]
    audio = [decode_audio(EVAL_DIR / "asr_ljspeech" / row["audio"]).samples for row in rows]
    greedy = DecodeOptions(beam_size=1)
    jobs = [
        ChunkJob(audio[0], 0.0, DecodeOptions()),
        ChunkJob(audio[1], 10.0, DecodeOptions(), prompt="A history of printing."),
        ChunkJob(audio[2], 0.0, DecodeOptions(), hotwords="woodcutters Netherlands"),
        ChunkJob(audio[3], 0.0, DecodeOptions(word_timestamps=True)),
        ChunkJob(audio[4], 0.0, greedy, prompt="Books.", hotwords="printed"),
    ]
    results = decode_chunks(tiny, jobs)
    for row, job, segments in zip(rows, jobs, results, strict=True):
        assert isinstance(segments, list), segments
        text = "".join(segment.text for segment in segments)
        assert jiwer.wer(_normalize(row["text"]), _normalize(text)) < 0.2, text
        end = job.offset + job.duration + 0.01  # times are rounded to the millisecond
        assert all(job.offset <= s.start <= s.end <= end for s in segments)
    assert results[3][0].words and results[0][0].words is None


def test_a_failing_group_does_not_fail_the_others(tiny: WhisperHandle) -> None:
    row = read_manifest("asr_ljspeech")[1]
    speech = decode_audio(EVAL_DIR / "asr_ljspeech" / row["audio"]).samples
    broken = DecodeOptions(beam_size=0)  # CTranslate2 refuses it: this group fails
    results = decode_chunks(
        tiny, [ChunkJob(speech, 0.0, broken), ChunkJob(speech, 0.0, DecodeOptions())]
    )
    assert isinstance(results[0], Exception)
    assert "comparatively modern" in "".join(s.text for s in results[1]).lower()


def test_short_chunks_are_padded_with_silence_not_with_zero_features(tiny: WhisperHandle) -> None:
    from tympan.tasks.asr.models import window_features

    clip = decode_audio(EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac").samples  # about 2 s
    features = window_features(tiny.model, clip)
    assert features.shape == (80, 3000)
    speech_frames = clip.shape[0] // 160
    pad = features[:, speech_frames + 2 :]
    assert np.allclose(pad, features.min())  # the log-mel floor: what Whisper knows as silence
    assert features.min() < -0.5  # zero-valued features would sit far above it
    whole = window_features(tiny.model, np.concatenate([clip] * 20))  # longer than 30 s: cut
    assert whole.shape == (80, 3000)
    short = window_features(tiny.model, clip, 3)  # the audio's own length, whole seconds
    assert short.shape == (80, 300)
    assert np.allclose(short, features[:, :300], atol=1e-5)


def test_chunks_without_full_window_share_the_batch_longest_whole_seconds() -> None:
    from tympan.tasks.asr.decoding import _window_seconds

    short = DecodeOptions(full_window=False)
    jobs = [ChunkJob(np.zeros(n, np.float32), 0.0, short) for n in (16_000, 41_000)]
    assert _window_seconds(jobs) == 3  # 2.56 s rounded up; one shape for the batch
    assert _window_seconds([ChunkJob(np.zeros(40 * 16_000, np.float32), 0.0, short)]) == 30
    assert _window_seconds([ChunkJob(np.zeros(16_000, np.float32), 0.0, DecodeOptions())]) is None


def test_chunks_decoded_on_their_own_length_keep_their_words(tiny: WhisperHandle) -> None:
    """A batch of short chunks of different lengths, encoded on the longest one's whole
    seconds instead of 30 s (what live previews do), reads the same words."""
    rows = read_manifest("asr_ljspeech")[:3]
    audio = [decode_audio(EVAL_DIR / "asr_ljspeech" / row["audio"]).samples for row in rows]
    results = decode_chunks(
        tiny, [ChunkJob(a, 0.0, DecodeOptions(full_window=False)) for a in audio]
    )
    for row, segments in zip(rows, results, strict=True):
        assert isinstance(segments, list), segments
        text = "".join(segment.text for segment in segments)
        assert jiwer.wer(_normalize(row["text"]), _normalize(text)) < 0.2, text


def test_workers_decode_parts_side_by_side_with_the_same_result() -> None:
    rows = read_manifest("asr_ljspeech")[:5]
    options = [DecodeOptions(), DecodeOptions(beam_size=1)] * 2 + [DecodeOptions()]
    jobs = [
        ChunkJob(decode_audio(EVAL_DIR / "asr_ljspeech" / row["audio"]).samples, 0.0, option)
        for row, option in zip(rows, options, strict=True)
    ]
    handles = [
        load_whisper(
            _tiny_en_path(), "tiny", Settings(_env_file=None, cpu_threads=2, asr_workers=n)
        )  # type: ignore[call-arg]
        for n in (1, 2)
    ]
    try:
        assert [handle.workers for handle in handles] == [1, 2]
        assert decode_chunks(handles[0], jobs) == decode_chunks(handles[1], jobs)
        assert handles[0].solo is None and handles[1].solo is not None  # a lone chunk's copy
        assert decode_chunks(handles[1], jobs[:1]) == decode_chunks(handles[0], jobs[:1])
    finally:
        for handle in handles:
            handle.close()


def test_text_only_decoding_gives_one_segment_per_chunk(tiny: WhisperHandle) -> None:
    row = read_manifest("asr_ljspeech")[2]
    speech = decode_audio(EVAL_DIR / "asr_ljspeech" / row["audio"]).samples
    [segments] = decode_chunks(tiny, [ChunkJob(speech, 5.0, DecodeOptions())])
    assert isinstance(segments, list) and len(segments) == 1
    assert segments[0].start == 5.0 and segments[0].end == round(5.0 + speech.shape[0] / 16_000, 3)
    assert jiwer.wer(_normalize(row["text"]), _normalize(segments[0].text)) < 0.2


def test_aligned_words_cut_a_text_only_chunk_into_timed_phrases(tiny: WhisperHandle) -> None:
    rows = read_manifest("asr_ljspeech")[1:4]
    # 1.5 s between clips: the last two are one sentence, so only the pause cuts them (a 1 s
    # one left 0.9-1.0 s between the aligned words, on the rule's edge).
    pause = np.zeros(24_000, np.float32)
    clips = [decode_audio(EVAL_DIR / "asr_ljspeech" / row["audio"]).samples for row in rows]
    speech = np.concatenate([part for clip in clips for part in (clip, pause)])[: -pause.size]
    options = DecodeOptions(word_timestamps=True)
    [segments] = decode_chunks(tiny, [ChunkJob(speech[: 30 * 16_000], 2.0, options)])
    assert isinstance(segments, list) and len(segments) >= len(rows)
    first_end = 2.0 + clips[0].shape[0] / 16_000
    assert segments[0].end <= first_end + 0.5  # the first sentence is its own phrase
    for before, after in itertools.pairwise(segments):
        assert before.end <= after.start
    for segment in segments:
        assert segment.words and segment.start == segment.words[0].start < segment.end
        assert segment.text == "".join(word.word for word in segment.words)
        assert all(word.start < word.end for word in segment.words)  # no instant words


@pytest.mark.parametrize("timed", [True, False], ids=["words", "text-only"])
def test_a_chunk_whose_text_skips_seconds_of_speech_is_decoded_again_timed(
    tiny: WhisperHandle, timed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """AMI EN2002a's first 30 s (a meeting's start, voices over each other): text-only beam
    search leaves 10-21 s of its speech out (how much depends on the CPU's int8 kernels). The
    chunk is decoded again with timestamp tokens, which leaves under a second out, and that
    decode is kept: the words of its first seconds and of its end are there. With words, all
    are timed in order; text only (aligned to be checked), it stays one segment of text
    tokens."""
    clip = decode_audio(EVAL_DIR / "diarization" / "ami_EN2002a_0000_0030.flac").samples
    with caplog.at_level(logging.INFO, logger="tympan.tasks.asr.decoding"):
        [segments] = decode_chunks(
            tiny, [ChunkJob(clip, 0.0, DecodeOptions(word_timestamps=timed))]
        )
    # The failure this guards against happened, and the timed decode was kept.
    assert re.search(r"left \d+\.\d s of speech out;.*\(kept\)", caplog.text), caplog.text
    assert isinstance(segments, list)
    text = "".join(segment.text for segment in segments)
    assert "how much our meetings" in text and "what do we need to talk about" in text
    assert "done something" in text
    if not timed:
        [segment] = segments
        assert (segment.start, segment.end) == (0.0, 30.0) and segment.words is None
        assert max(segment.tokens) < 50_000  # text tokens only, no timestamps
        return
    words = [word for segment in segments for word in segment.words or []]
    assert words[0].start < 1.0
    assert all(word.end - word.start <= 2.0 for word in words)
    for before, after in itertools.pairwise(words):
        assert before.end <= after.start


def test_speech_left_out_between_words_counts_where_the_vad_frames_are_known(
    tiny: WhisperHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """AMI EN2002a's first 30 s: text-only beam search leaves out short replies over another
    voice, seconds between two words with speech in them, which the first and last words do
    not show. Given the chunk's VAD frames (as the pipeline and live pieces give them), that
    speech counts and the chunk is decoded again timed; the decode that leaves less speech
    out is kept (with Intel's MKL kernels the timed one; with those used on AMD CPUs the
    timed one left more out and the first stood)."""
    audio = decode_audio(EVAL_DIR / "diarization" / "ami_EN2002a_0000_0030.flac")
    frames = SileroVad().probabilities(audio)
    [chunk], _ = plan_chunks(frames, audio.duration)  # 0.1-30 s, as the pipeline plans it
    samples, options = audio.slice(chunk.start, chunk.end).samples, DecodeOptions()  # text only

    def text(speech: np.ndarray | None) -> str:
        job = ChunkJob(samples, chunk.start, options, speech=speech)
        [segments] = decode_chunks(tiny, [job])
        assert isinstance(segments, list)
        return "".join(segment.text for segment in segments)

    with caplog.at_level(logging.INFO, logger="tympan.tasks.asr.decoding"):
        unchecked = text(None)
        assert "of speech out" not in caplog.text  # the edges alone: nothing left out
        checked = text(chunk.frames(frames))
    judged = re.search(
        r"left (\d+\.\d) s of speech out; decoded with timestamps it leaves (\d+\.\d) s out "
        r"\((kept|not kept)\)",
        caplog.text,
    )
    assert judged, caplog.text
    before, after, verdict = float(judged[1]), float(judged[2]), judged[3]
    assert before >= 2.0  # the gap between words, with speech in it
    if verdict == "kept":
        assert after < before and len(checked.split()) >= len(unchecked.split()) + 5
    else:
        assert after >= before and checked == unchecked
