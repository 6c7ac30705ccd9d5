"""Language routing of the OpenAI names: language ID, English cost, other languages, one run.

- Language ID (``/v1/audio/language``, whisper-base on the first 30 s) accuracy on the 28
  FLEURS clips of ``multilingual`` and its cost per request (median seconds, and as a share
  of the routed transcription time).
- English: ``whisper-1`` (language ID, then tiny.en) against ``whisper-tiny.en`` named
  directly (today's path), interleaved clip by clip on asr_ljspeech: WER and RTFx.
- Other languages: ``whisper-1`` (routed to base) against faster-whisper direct with base
  (beam 5, language detected by itself): WER per language, CER for zh and ja.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import jiwer
from faster_whisper import WhisperModel
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

from benchmarks._harness import EVAL_DIR, markdown_table, ratio
from tympan.client import Client
from tympan.config import Settings
from tympan.tasks.asr.models import assemble_base_model

THREADS = os.cpu_count() or 1
CHARACTER_LANGUAGES = {"zh", "ja"}
T = TypeVar("T")
_english = EnglishTextNormalizer()
_basic = BasicTextNormalizer()


def _manifest(folder: str) -> list[dict[str, str]]:
    with (EVAL_DIR / folder / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and the seconds it took."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def _error_rate(language: str, references: list[str], hypotheses: list[str]) -> float:
    refs = [_basic(text) for text in references]
    hyps = [_basic(text) or "<empty>" for text in hypotheses]
    if language in CHARACTER_LANGUAGES:
        strip = [r.replace(" ", "") for r in refs], [h.replace(" ", "") or "<" for h in hyps]
        return 100 * jiwer.cer(*strip)
    return 100 * jiwer.wer(refs, hyps)


def _language_id_section(client: Client, rows: list[dict[str, str]]) -> tuple[str, float]:
    correct, seconds = 0, []
    for row in rows:
        report, elapsed = _timed(
            lambda row=row: client.identify_language(EVAL_DIR / "multilingual" / row["audio"])
        )
        correct += report.language == row["language"]
        seconds.append(elapsed)
    seconds.sort()
    median = seconds[len(seconds) // 2]
    table = markdown_table(
        ["clips", "accuracy", "median s / request", "max s / request"],
        [[len(rows), correct / len(rows), median, seconds[-1]]],
    )
    return table, median


def _english_section(client: Client) -> str:
    rows = _manifest("asr_ljspeech")
    refs = [row["text"] for row in rows]
    hyps: dict[str, list[str]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    for row in rows:  # interleaved: the same clip through both paths, back to back
        path = EVAL_DIR / "asr_ljspeech" / row["audio"]
        for model in ("whisper-1", "whisper-tiny.en"):
            result, elapsed = _timed(lambda m=model, p=path: client.transcribe(p, model=m))
            hyps[model].append(result.text)
            seconds[model] += elapsed
    audio_s = sum(float(row.get("duration_s") or 0) for row in rows) or None
    table_rows = []
    for model, label in (
        ("whisper-tiny.en", "whisper-tiny.en named (today's path)"),
        ("whisper-1", "whisper-1 routed (language ID + tiny.en)"),
    ):
        wer = 100 * jiwer.wer(
            [_english(r) for r in refs], [_english(h) or "<empty>" for h in hyps[model]]
        )
        rtfx = ratio(audio_s, seconds[model]) if audio_s else float("nan")
        table_rows.append([label, len(rows), wer, rtfx, seconds[model]])
    table_rows.append(
        [
            "routed / direct time",
            "",
            "",
            "",
            ratio(seconds["whisper-1"], seconds["whisper-tiny.en"]),
        ]
    )
    return markdown_table(["path", "clips", "WER %", "RTFx", "total s"], table_rows)


def _multilingual_section(
    client: Client, direct: WhisperModel, rows: list[dict[str, str]]
) -> tuple[str, float]:
    ours: dict[str, list[str]] = defaultdict(list)
    theirs: dict[str, list[str]] = defaultdict(list)
    refs: dict[str, list[str]] = defaultdict(list)
    routed_seconds = []
    for row in rows:
        path = EVAL_DIR / "multilingual" / row["audio"]
        result, elapsed = _timed(lambda p=path: client.transcribe(p, model="whisper-1"))
        routed_seconds.append(elapsed)
        segments, _ = direct.transcribe(str(path), beam_size=5)
        language = row["language"]
        ours[language].append(result.text)
        theirs[language].append("".join(s.text for s in segments).strip())
        refs[language].append(row["text"])
    table = [
        [
            language,
            "CER" if language in CHARACTER_LANGUAGES else "WER",
            len(refs[language]),
            _error_rate(language, refs[language], ours[language]),
            _error_rate(language, refs[language], theirs[language]),
        ]
        for language in sorted(refs)
    ]
    routed_seconds.sort()
    header = ["language", "metric", "clips", "whisper-1 routed %", "faster-whisper base direct %"]
    return markdown_table(header, table), routed_seconds[len(routed_seconds) // 2]


def run() -> str:
    rows = _manifest("multilingual")
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(_env_file=None, data_dir=Path(data_dir), cpu_threads=THREADS)  # type: ignore[call-arg]
        with Client.in_process(settings) as client:
            client.transcribe(EVAL_DIR / "asr_small" / "whisper_jfk.flac", model="whisper-1")
            client.transcribe(EVAL_DIR / "asr_small" / "whisper_jfk.flac", model="tiny.en")
            base_dir = assemble_base_model(settings.models_dir / "whisper-base")
            direct = WhisperModel(
                str(base_dir), device="cpu", compute_type="int8", cpu_threads=THREADS
            )
            lid_table, lid_median = _language_id_section(client, rows)
            english = _english_section(client)
            multi_table, routed_median = _multilingual_section(client, direct, rows)
    cost = ratio(lid_median, routed_median)
    return "\n\n".join(
        [
            "Machine shared by several engineers at once: compare ratios, not absolute times.",
            "### Language ID (whisper-base, first 30 s), FLEURS 7 languages\n\n" + lid_table,
            f"Language ID median cost = {cost:.2f} of a routed multilingual transcription's "
            "median time.",
            "### English: routed whisper-1 vs tiny.en named, asr_ljspeech, interleaved\n\n"
            + english,
            "### Other languages: whisper-1 routed vs faster-whisper base direct\n\n" + multi_table,
        ]
    )
