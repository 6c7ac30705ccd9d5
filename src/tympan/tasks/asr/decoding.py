"""Batched Whisper decoding of <=30 s chunks, from any number of requests at once.

faster-whisper's own ``transcribe`` decodes one window at a time, and its
``BatchedInferencePipeline`` batches the windows of one file with one prompt and no
temperature fallback. Tympan's batch holds chunks of different requests: each chunk carries
its own prompt and hotwords, chunks that share decoding options are encoded and decoded in one
``generate`` call, and chunks that fail the quality checks (repetitive or unlikely text) are
decoded again at the next temperature, as the sequential ``transcribe`` does, but in a batch.

Whisper decodes text only, without its timestamp tokens (fewer tokens to generate, and no
window ends early to be decoded again from there). Where times are wanted, one teacher-forced
pass aligns the words to the audio (cross-attention, faster-whisper's alignment) and each
chunk's text is cut into phrases at sentence ends and pauses. Aligned words also show where
text-only beam search jumped over speech it found hard; those chunks are decoded again with
timestamp tokens (``_redecode_skipped_speech``). The building blocks (feature extractor,
tokenizer, word alignment) are faster-whisper's own.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

from tympan.config import SAMPLE_RATE
from tympan.tasks.asr.chunking import CHUNK_VAD_OPTIONS
from tympan.tasks.asr.models import WhisperHandle, window_features
from tympan.tasks.asr.results import Segment, Word
from tympan.tasks.vad import FRAME_SECONDS

__all__ = [
    "CLAUSE_ENDS",
    "SENTENCE_ENDS",
    "ChunkJob",
    "DecodeOptions",
    "decode_chunks",
    "detect_language",
]

log = logging.getLogger(__name__)

_PROMPT_BUDGET = 223  # Whisper keeps at most max_length // 2 - 1 tokens of context
_DEFAULTS = inspect.signature(WhisperModel.transcribe).parameters
_PREPEND = _DEFAULTS["prepend_punctuations"].default  # merged into the next word
_APPEND = _DEFAULTS["append_punctuations"].default  # merged into the previous word
_ENCODER_BATCH = 2  # windows per encoder call
_WINDOW_SECONDS = 30  # Whisper's window


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """Decoding options shared by the chunks of one batch (defaults are faster-whisper's)."""

    task: Literal["transcribe", "translate"] = "transcribe"
    language: str = "en"
    beam_size: int = 5
    best_of: int = 5
    patience: float = 1.0
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    word_timestamps: bool = False
    suppress_blank: bool = True
    full_window: bool = True
    """False: the encoder reads the chunks' own length (whole seconds, the longest of the
    batch) instead of a 30 s window; for live previews, whose text is thrown away."""


@dataclass(frozen=True, slots=True)
class ChunkJob:
    """One chunk to decode: its samples, where it starts, its options and its prompts."""

    samples: np.ndarray
    offset: float
    options: DecodeOptions
    prompt: str | None = None
    hotwords: str | None = None
    speech: np.ndarray | None = field(default=None, repr=False)
    """Silero's speech probability of each 32 ms frame of the chunk, when known: speech the
    text leaves out between its words counts too (``_skipped_seconds``)."""

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / 16_000


@dataclass(slots=True)
class _Attempt:
    tokens: list[int]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    temperature: float
    text: str = field(repr=False, default="")


def _prompt(
    handle: WhisperHandle, tokenizer: Tokenizer, job: ChunkJob, timed: bool = False
) -> list[int]:
    """Whisper's prompt: [hotwords and previous text], start of transcript, and no
    timestamps unless ``timed``."""
    hot = tokenizer.encode(" " + job.hotwords.strip()) if job.hotwords else []
    hot = hot[: _PROMPT_BUDGET // 2 if job.prompt else _PROMPT_BUDGET]
    previous = tokenizer.encode(" " + job.prompt.strip()) if job.prompt else []
    previous = previous[len(previous) - (_PROMPT_BUDGET - len(hot)) :] if previous else []
    prompt = [tokenizer.sot_prev, *hot, *previous] if hot or previous else []
    prompt.extend(tokenizer.sot_sequence)
    if not timed:
        prompt.append(tokenizer.no_timestamps)
    return prompt


def _window_seconds(jobs: list[ChunkJob]) -> int | None:
    """The window a batch is encoded in: 30 s (None), or, without ``full_window``, its
    longest chunk rounded up to whole seconds (one shape per batch; whole seconds let chunks
    of similar length share it)."""
    if jobs[0].options.full_window:
        return None
    longest = max(job.duration for job in jobs)
    return min(_WINDOW_SECONDS, max(1, math.ceil(longest)))


def _with_silent_tail(handle: WhisperHandle, encoded: np.ndarray) -> np.ndarray:
    """Short windows' encoder output followed by the rest of a silent window's.

    CTranslate2 encodes fewer than 3000 frames (about 20x faster for 2 s than for 30 s), but
    Whisper's decoder was trained on whole windows: fed the short output alone, tiny.en
    repeated itself on 8 of the 21 asr_small clips (greedy WER 375 % against 14.9 % on 30 s
    windows). With the rest of the positions taken from a silent window's output, where the
    decoder hears the speech end, greedy WER was 13.4 %, none repeating."""
    frames = encoded.shape[1]
    silent = handle.silent
    if frames >= silent.shape[1]:
        return encoded
    tail = np.broadcast_to(silent[:, frames:], (encoded.shape[0], *silent[:, frames:].shape[1:]))
    return np.concatenate([encoded, tail], axis=1)


def _encode(handle: WhisperHandle, features: np.ndarray) -> np.ndarray:
    """Encoder output of a batch of windows (windows x frames x dims), ``_ENCODER_BATCH`` at a
    time; short windows are completed with a silent window's output (``_with_silent_tail``).

    Measured on the 2-core machine: under heavy load (load average 8-16) one call per window
    took about twice the wall time of batched calls (each call's threads meet at sync points,
    and a contended core makes every meeting wait); on a quiet machine (load 0.3-1.4; 16
    windows of tiny.en, min of 3) calls of 2 windows took 4.50 s, of 1 4.94 s, of 4 5.16 s and
    of 8 5.02 s, and the 10-minute long-form request went from 16.0 s (4) to 14.0 s (2) with
    the same text. Small batches also bound the attention activations (windows x heads x
    1500 x 1500 floats). Kept as NumPy so rows can be regrouped (fallbacks, prompt lengths,
    alignment) for free.
    """
    rows = [
        np.asarray(handle.model.encode(features[i : i + _ENCODER_BATCH]))
        for i in range(0, len(features), _ENCODER_BATCH)
    ]
    return _with_silent_tail(handle, np.concatenate(rows))


def _storage(encoded: np.ndarray, rows: list[int]) -> ctranslate2.StorageView:
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded[rows]))


def _generate(
    handle: WhisperHandle,
    tokenizer: Tokenizer,
    encoded: np.ndarray,
    prompts: list[list[int]],
    options: DecodeOptions,
    temperature: float,
) -> list[_Attempt]:
    """One attempt per window; windows whose prompts put start-of-transcript at the same
    position share a ``generate`` call (CTranslate2 requires that within a batch)."""
    by_position: dict[int, list[int]] = defaultdict(list)
    for index, prompt in enumerate(prompts):
        by_position[prompt.index(tokenizer.sot)].append(index)
    attempts: list[_Attempt | None] = [None] * len(prompts)
    for rows in by_position.values():
        found = _generate_batch(
            handle,
            tokenizer,
            _storage(encoded, rows),
            [prompts[i] for i in rows],
            options,
            temperature,
        )
        for index, attempt in zip(rows, found, strict=True):
            attempts[index] = attempt
    return attempts  # type: ignore[return-value]


def _generate_batch(
    handle: WhisperHandle,
    tokenizer: Tokenizer,
    encoded: ctranslate2.StorageView,
    prompts: list[list[int]],
    options: DecodeOptions,
    temperature: float,
) -> list[_Attempt]:
    model = handle.model
    if temperature > 0:
        kwargs: dict[str, Any] = {
            "beam_size": 1,
            "num_hypotheses": options.best_of,
            "sampling_topk": 0,
            "sampling_temperature": temperature,
        }
    else:
        kwargs = {"beam_size": options.beam_size, "patience": options.patience}
    results = model.model.generate(
        encoded,
        prompts,
        length_penalty=options.length_penalty,
        repetition_penalty=options.repetition_penalty,
        no_repeat_ngram_size=options.no_repeat_ngram_size,
        max_length=model.max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=options.suppress_blank,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        **kwargs,
    )
    attempts = []
    for result in results:
        tokens = result.sequences_ids[0]
        cumulative = result.scores[0] * (len(tokens) ** options.length_penalty)
        text = tokenizer.decode(tokens).strip()
        attempts.append(
            _Attempt(
                tokens,
                cumulative / (len(tokens) + 1),
                get_compression_ratio(text),
                result.no_speech_prob,
                temperature,
                text,
            )
        )
    return attempts


def _is_silence(attempt: _Attempt, options: DecodeOptions) -> bool:
    return (
        options.no_speech_threshold is not None
        and attempt.no_speech_prob > options.no_speech_threshold
        and options.log_prob_threshold is not None
        and attempt.avg_logprob < options.log_prob_threshold
    )


def _needs_fallback(attempt: _Attempt, options: DecodeOptions) -> bool:
    """Too repetitive or too unlikely (and not simply silence): decode again, hotter."""
    repetitive = (
        options.compression_ratio_threshold is not None
        and attempt.compression_ratio > options.compression_ratio_threshold
    )
    unlikely = (
        options.log_prob_threshold is not None and attempt.avg_logprob < options.log_prob_threshold
    )
    return (repetitive or unlikely) and not _is_silence(attempt, options)


def _decode_with_fallback(
    handle: WhisperHandle,
    tokenizer: Tokenizer,
    features: np.ndarray,
    prompts: list[list[int]],
    options: DecodeOptions,
) -> tuple[list[_Attempt], np.ndarray]:
    """The first temperature for all; the next ones only for the chunks that still fail.

    Returns the chosen attempts and the encoder output of every chunk (for word alignment).
    """
    encoded = _encode(handle, features)
    best = _generate(handle, tokenizer, encoded, prompts, options, options.temperatures[0])
    tried: list[list[_Attempt]] = [[attempt] for attempt in best]
    for temperature in options.temperatures[1:]:
        failing = [i for i, attempt in enumerate(best) if _needs_fallback(attempt, options)]
        if not failing:
            break
        retry = _generate(
            handle,
            tokenizer,
            encoded[failing],
            [prompts[i] for i in failing],
            options,
            temperature,
        )
        for index, attempt in zip(failing, retry, strict=True):
            tried[index].append(attempt)
            best[index] = attempt
    for index, attempt in enumerate(best):
        if _needs_fallback(attempt, options):  # every temperature failed: keep the likeliest
            threshold = options.compression_ratio_threshold
            fits = [
                a for a in tried[index] if threshold is None or a.compression_ratio <= threshold
            ]
            best[index] = max(fits or tried[index], key=lambda a: a.avg_logprob)
    return best, encoded


def _draft(
    handle: WhisperHandle, tokenizer: Tokenizer, job: ChunkJob, attempt: _Attempt
) -> list[dict[str, Any]]:
    """A chunk's text as one draft segment spanning the chunk (none for silence or no text)."""
    text = tokenizer.decode([t for t in attempt.tokens if t < tokenizer.eot])
    if _is_silence(attempt, job.options) or not text.strip():
        return []
    seek = round(job.offset * handle.model.frames_per_second)
    end = job.offset + job.duration
    return [{"seek": seek, "start": job.offset, "end": end, "tokens": attempt.tokens, "text": text}]


def _add_words(
    handle: WhisperHandle,
    tokenizer: Tokenizer,
    encoded: np.ndarray,
    jobs: list[ChunkJob],
    drafts: list[list[dict[str, Any]]],
) -> None:
    """Word times by cross-attention alignment (faster-whisper's), for chunks that have text."""
    model = handle.model
    spoken = [i for i, chunk in enumerate(drafts) if chunk]
    if not spoken:
        return
    model.add_word_timestamps(
        [drafts[i] for i in spoken],  # alignment needs text in every row
        tokenizer,
        _storage(encoded, spoken),
        [min(round(jobs[i].duration * model.frames_per_second), 3000) for i in spoken],
        _PREPEND,
        _APPEND,
        jobs[spoken[0]].offset,
    )
    for chunk in drafts:
        _lengthen_instant_words([word for draft in chunk for word in draft.get("words", [])])


_MIN_WORD_SECONDS = 0.02  # one alignment frame


def _lengthen_instant_words(words: list[dict[str, Any]]) -> None:
    """Give words the alignment squeezed to no duration one frame, pushing the next ones on.

    Cross-attention alignment often ends a short word where it starts ("I", "Okay."); a
    phrase or a speaker's piece made of such words would have no length at all.
    """
    for index, word in enumerate(words):
        if index:
            word["start"] = max(word["start"], words[index - 1]["end"])
        word["end"] = round(max(word["end"], word["start"] + _MIN_WORD_SECONDS), 2)


_LONGEST_WORD = 2.0  # seconds; an aligned word longer than this spans speech left undecoded
_EDGE_SECONDS = 1.0  # speech padding a chunk may hold before its first and after its last word
_SKIPPED_SECONDS = 2.0  # this much speech without words: decode the chunk again, timed
_SPARSE_WORDS_PER_SECOND = 2.0  # text-only chunks with fewer words are aligned to be checked
_WORD_REACH = 0.5  # seconds around an aligned word that its speech may take (lead-in, lead-out)


def _is_sparse(chunk: list[dict[str, Any]], job: ChunkJob) -> bool:
    """Fewer words than ``_SPARSE_WORDS_PER_SECOND`` over the chunk: worth aligning, when no
    times were asked for, to see whether speech was skipped.

    Read speech measured 2.1 words a second of chunk or more (the slowest: JFK's speech in
    asr_small; the longform book about 2.6, none of its 45 chunks under 2), the AMI meeting
    chunks 1.8-2.0; AMI chunks that skipped speech gave 27 and 49 words in 30 s. The
    alignment is cheap beside the decode (a 30 s AMI chunk: 1.36-1.55 s with it, 1.42 s
    without, within the spread); the decode again is not, and runs only where speech was
    skipped."""
    words = sum(len(draft["text"].split()) for draft in chunk)
    return bool(chunk) and words < _SPARSE_WORDS_PER_SECOND * job.duration


def _skipped_seconds(chunk: list[dict[str, Any]], job: ChunkJob) -> float:
    """Seconds of a chunk its words leave out: inside words the alignment stretched over
    audio the text does not hold, and speech no word is near. Where the chunk's VAD frames
    are known, that is every frame of speech more than ``_WORD_REACH`` from a word (AMI
    EN2002a's short replies over another voice: 5.5 s of speech between two words 3.9 s
    apart); otherwise the audio before the first word and after the last, beyond the VAD's
    padding."""
    words = [word for draft in chunk for word in draft.get("words", [])]
    if not words:
        return 0.0
    stretched = sum(max(0.0, w["end"] - w["start"] - _LONGEST_WORD) for w in words)
    if job.speech is None:
        lead = words[0]["start"] - job.offset - _EDGE_SECONDS
        tail = job.offset + job.duration - words[-1]["end"] - _EDGE_SECONDS
        return max(0.0, lead) + max(0.0, tail) + stretched
    near_words = np.zeros(job.speech.shape[0], dtype=bool)
    for word in words:
        first = math.floor((word["start"] - _WORD_REACH - job.offset) / FRAME_SECONDS)
        last = math.ceil((word["end"] + _WORD_REACH - job.offset) / FRAME_SECONDS)
        near_words[max(0, first) : max(0, last)] = True
    unheard = (job.speech > CHUNK_VAD_OPTIONS.threshold) & ~near_words  # speech, as chunked
    return float(unheard.sum()) * FRAME_SECONDS + stretched


def _redecode_skipped_speech(
    handle: WhisperHandle,
    tokenizer: Tokenizer,
    encoded: np.ndarray,
    jobs: list[ChunkJob],
    attempts: list[_Attempt],
    drafts: list[list[dict[str, Any]]],
) -> None:
    """Decode again, with Whisper's timestamp tokens, the chunks whose text left seconds of
    speech out, and keep the text that leaves out less.

    Text-only beam search can jump over a stretch it finds hard: on an AMI meeting clip
    (overlapping voices) tiny.en at beam 5 gave only the last 16 s of a 30 s chunk, its
    alignment stretching one word over 8 s. Timestamp tokens make the decoder account for
    the time it covers, and that decode read the whole chunk (as faster-whisper's default
    ``transcribe`` does). Chunks whose words cover their speech pay nothing.
    """
    skipped = {i: _skipped_seconds(drafts[i], jobs[i]) for i in range(len(jobs))}
    again = [i for i, seconds in skipped.items() if seconds >= _SKIPPED_SECONDS]
    if not again:
        return
    timed = [_prompt(handle, tokenizer, jobs[i], timed=True) for i in again]
    options = jobs[0].options
    retry = _generate(handle, tokenizer, encoded[again], timed, options, options.temperatures[0])
    retried = [_draft(handle, tokenizer, jobs[i], a) for i, a in zip(again, retry, strict=True)]
    _add_words(handle, tokenizer, encoded[again], [jobs[i] for i in again], retried)
    for index, attempt, chunk in zip(again, retry, retried, strict=True):
        _continue_with_later_words(chunk, drafts[index])
        left_out = _skipped_seconds(chunk, jobs[index]) if chunk else math.inf
        kept = left_out < skipped[index] and not _needs_fallback(attempt, options)
        log.info(
            "the chunk at %.1f s left %.1f s of speech out; decoded with timestamps it leaves "
            "%.1f s out (%s)", jobs[index].offset, skipped[index], left_out,
            "kept" if kept else "not kept",
        )  # fmt: skip
        if kept:
            for draft in chunk:  # its text tokens, without the timestamps, with the continuation
                draft["tokens"] = tokenizer.encode(draft["text"])
            attempts[index], drafts[index] = attempt, chunk


def _continue_with_later_words(
    chunk: list[dict[str, Any]], text_only: list[dict[str, Any]]
) -> None:
    """Append to a timed decode the text-only decode's words after its last one (by their
    middle: the two alignments may differ by a frame).

    A timed decode may stop at a timestamp before the chunk's end (faster-whisper decodes
    again from there); the text-only decode, which skipped speech earlier in the chunk, read
    that end (the AMI clip's last 1.5 s: "of the committee, I guess.")."""
    words = chunk[-1].get("words") if chunk else None
    if not words:
        return
    end = words[-1]["end"]
    later = [w for d in text_only for w in d.get("words", []) if w["start"] + w["end"] > 2 * end]
    if later:
        chunk[-1]["words"] = words + [dict(word) for word in later]
        chunk[-1]["text"] += "".join(word["word"] for word in later)
        _lengthen_instant_words(chunk[-1]["words"])  # each word starts where the last ends


SENTENCE_ENDS = tuple(".?!\u3002\uff1f\uff01")  # with the CJK full stop and full-width marks
CLAUSE_ENDS = tuple(",;\uff0c\u3001")
_PHRASE_PAUSE = 1.0  # seconds between two words that end a phrase even mid-sentence
_LONG_PHRASE = 10.0  # seconds after which a comma ends a phrase too


def _phrases(tokenizer: Tokenizer, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A text-only chunk's one draft cut into phrases at sentence ends and pauses, timed by
    its aligned words (what Whisper's timestamp tokens would have given, without decoding
    them)."""
    phrases: list[dict[str, Any]] = []
    for draft in chunk:
        words = draft.get("words") or []
        if not words:
            phrases.append(draft)
            continue
        group: list[dict[str, Any]] = []
        for index, word in enumerate(words):
            group.append(word)
            after = words[index + 1] if index + 1 < len(words) else None
            text = word["word"].strip()
            long = group[-1]["end"] - group[0]["start"] >= _LONG_PHRASE
            if (
                after is None
                or text.endswith(SENTENCE_ENDS)
                or after["start"] - word["end"] >= _PHRASE_PAUSE
                or (long and text.endswith(CLAUSE_ENDS))
            ):
                phrase = "".join(w["word"] for w in group)
                phrases.append(
                    {
                        "seek": draft["seek"],
                        "start": group[0]["start"],
                        "end": group[-1]["end"],
                        "tokens": tokenizer.encode(phrase),
                        "text": phrase,
                        "words": group,
                    }
                )
                group = []
    return phrases


def _to_segment(draft: dict[str, Any], attempt: _Attempt, with_words: bool) -> Segment:
    words = None
    if with_words:
        words = [
            Word(w["word"], float(w["start"]), float(w["end"]), round(float(w["probability"]), 4))
            for w in draft.get("words", [])
        ]
    return Segment(
        id=0,
        seek=int(draft["seek"]),
        start=round(float(draft["start"]), 3),
        end=round(float(draft["end"]), 3),
        text=draft["text"],
        tokens=[int(t) for t in draft["tokens"]],
        temperature=attempt.temperature,
        avg_logprob=round(float(attempt.avg_logprob), 4),
        compression_ratio=round(float(attempt.compression_ratio), 4),
        no_speech_prob=round(float(attempt.no_speech_prob), 4),
        words=words,
    )


def _decode_group(handle: WhisperHandle, jobs: list[ChunkJob]) -> list[list[Segment]]:
    """Decode chunks sharing options in one batch; with ``word_timestamps``, align their
    words and cut each chunk's text into phrases."""
    options = jobs[0].options
    tokenizer = Tokenizer(
        handle.model.hf_tokenizer, handle.multilingual, task=options.task, language=options.language
    )
    seconds = _window_seconds(jobs)
    features = np.stack([window_features(handle.model, job.samples, seconds) for job in jobs])
    prompts = [_prompt(handle, tokenizer, job) for job in jobs]
    attempts, encoded = _decode_with_fallback(handle, tokenizer, features, prompts, options)
    drafts = [
        _draft(handle, tokenizer, job, attempt) for job, attempt in zip(jobs, attempts, strict=True)
    ]
    if options.word_timestamps:
        _add_words(handle, tokenizer, encoded, jobs, drafts)
    elif options.full_window:  # text only: align just the chunks whose text is short
        sparse = [
            chunk if _is_sparse(chunk, job) else [] for chunk, job in zip(drafts, jobs, strict=True)
        ]
        _add_words(handle, tokenizer, encoded, jobs, sparse)
    if options.full_window:
        _redecode_skipped_speech(handle, tokenizer, encoded, jobs, attempts, drafts)
    if options.word_timestamps:
        drafts = [_phrases(tokenizer, chunk) for chunk in drafts]
    else:  # one segment over the chunk, as if never aligned (alignment moves its bounds)
        for chunk, job in zip(drafts, jobs, strict=True):
            for draft in chunk:
                draft.update(start=job.offset, end=job.offset + job.duration)
    return [
        [_to_segment(draft, attempt, options.word_timestamps) for draft in chunk]
        for chunk, attempt in zip(drafts, attempts, strict=True)
    ]


def decode_chunks(
    handle: WhisperHandle, jobs: list[ChunkJob]
) -> list[list[Segment] | BaseException]:
    """Segments of every chunk, in order, the batch dealt out to the model's workers.

    Chunks go round-robin to ``handle.workers`` parts (neighbours in time land in different
    parts, so the parts of a long recording take about as long); each part runs on its own
    worker. A lone chunk goes to the model's ``solo`` copy, all threads on it.
    """
    if len(jobs) == 1 and handle.solo is not None:
        return _decode_part(handle.solo, jobs)
    count = max(1, min(handle.workers, len(jobs)))
    parts = handle.pool.map(
        partial(_decode_part, handle), [jobs[first::count] for first in range(count)]
    )
    results: list[list[Segment] | BaseException] = [[] for _ in jobs]
    for first, part in enumerate(parts):
        results[first::count] = part
    return results


def _decode_part(
    handle: WhisperHandle, jobs: list[ChunkJob]
) -> list[list[Segment] | BaseException]:
    """Segments of every chunk, in order; chunks with equal options share one batched call.

    A group that fails yields its exception for its own chunks only.
    """
    groups: dict[DecodeOptions, list[int]] = defaultdict(list)
    for index, job in enumerate(jobs):
        groups[job.options].append(index)
    results: list[list[Segment] | BaseException] = [[] for _ in jobs]
    for indices in groups.values():
        try:
            decoded = _decode_group(handle, [jobs[i] for i in indices])
        except Exception as exc:  # reported to this group's callers only
            decoded = [exc] * len(indices)  # type: ignore[list-item]
        for index, chunk in zip(indices, decoded, strict=True):
            results[index] = chunk
    return results


_LANGUAGE_ID_SAMPLES = 30 * SAMPLE_RATE  # the window Whisper's language head was trained on
_LANGUAGE_ID_FIRST_SAMPLES = 4 * SAMPLE_RATE
_LANGUAGE_ID_SURE = 0.8
_LANGUAGE_ID_MIN_SAMPLES = 2 * SAMPLE_RATE


def language_ranking(handle: WhisperHandle, samples: np.ndarray) -> list[tuple[str, float]]:
    """Every language with its probability, likeliest first: from the first 4 s of ``samples``
    when one language reaches 0.8 there, else from the first 30 s.

    Unlike faster-whisper's ``detect_language``, the encoder reads only the speech's own
    length (at least 2 s), not 30 s of padding: CTranslate2 takes shorter inputs. On the
    multilingual set plus LJSpeech (60 clips) 30 s named every clip's language in 7.3 s, 4 s
    alone missed 2, and 4 s with the 30 s fallback (8 fallbacks) named all 60 in 5.0 s."""
    ranking = _language_ranking(handle, samples[:_LANGUAGE_ID_FIRST_SAMPLES])
    if ranking[0][1] < _LANGUAGE_ID_SURE and samples.shape[0] > _LANGUAGE_ID_FIRST_SAMPLES:
        ranking = _language_ranking(handle, samples[:_LANGUAGE_ID_SAMPLES])
    return ranking


def _language_ranking(handle: WhisperHandle, clip: np.ndarray) -> list[tuple[str, float]]:
    if clip.shape[0] < _LANGUAGE_ID_MIN_SAMPLES:
        clip = np.pad(clip, (0, _LANGUAGE_ID_MIN_SAMPLES - clip.shape[0]))
    model = (handle.solo or handle).model  # one clip: all threads on it
    features = model.feature_extractor(np.ascontiguousarray(clip, dtype=np.float32))
    features = features[:, : _LANGUAGE_ID_SAMPLES // model.feature_extractor.hop_length]
    bands, frames = features.shape
    even = np.zeros((1, bands, frames + frames % 2), np.float32)  # the encoder halves the frames
    even[0, :, :frames] = features
    ranking = model.model.detect_language(ctranslate2.StorageView.from_array(even))[0]
    return [(token[2:-2], float(probability)) for token, probability in ranking]


def detect_language(handle: WhisperHandle, samples: np.ndarray) -> tuple[str, float]:
    """The language spoken at the start of ``samples`` and its probability."""
    return language_ranking(handle, samples)[0]
