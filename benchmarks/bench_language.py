"""OpenAI names routed by language: identification accuracy and cost, English kept fast.

- Language ID on every clip of ``../shared/eval/multilingual`` (FLEURS) and on English
  (asr_ljspeech): accuracy and seconds per request, through ``POST /v1/audio/language``.
- English: ``whisper-1`` (routed: language ID, then tiny.en) against ``tiny.en`` asked
  directly, WER and RTFx, interleaved, min of 3, same run.
- Every other language: ``whisper-1`` (routed to base) against faster-whisper's
  ``transcribe()`` with the same base model and beam, WER (CER for zh and ja) per language.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import jiwer
from faster_whisper import WhisperModel
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

from benchmarks._harness import EVAL_DIR, markdown_table
from tympan.client import Client
from tympan.config import Settings
from tympan.tasks.asr.models import assemble_base_model

THREADS = os.cpu_count() or 1
REPEATS = 3
_CHARACTER_LANGUAGES = {"zh", "ja"}
_english_normaliser = EnglishTextNormalizer()
_basic_normaliser = BasicTextNormalizer()


def _manifest(folder: str) -> list[dict[str, str]]:
    with (EVAL_DIR / folder / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _error_rate(language: str, references: list[str], hypotheses: list[str]) -> float:
    """WER after Whisper's normalisers (CER for languages written without spaces)."""
    normalise = _english_normaliser if language == "en" else _basic_normaliser
    refs = [normalise(text).strip() for text in references]
    hyps = [normalise(text).strip() or "<empty>" for text in hypotheses]
    if language in _CHARACTER_LANGUAGES:
        return 100 * jiwer.cer(refs, hyps)
    return 100 * jiwer.wer(refs, hyps)


def _identification(client: Client, clips: list[tuple[Path, str]]) -> str:
    per_language: dict[str, list[bool]] = defaultdict(list)
    seconds = []
    for path, language in clips:
        started = time.perf_counter()
        guess = client.detect_language(path)["language"]
        seconds.append(time.perf_counter() - started)
        per_language[language].append(guess == language)
    rows = [[lang, len(hits), 100 * sum(hits) / len(hits)] for lang, hits in per_language.items()]
    total = [hit for hits in per_language.values() for hit in hits]
    rows.append(["all", len(total), 100 * sum(total) / len(total)])
    table = markdown_table(["language", "clips", "accuracy %"], rows)
    cost = sorted(seconds)[len(seconds) // 2]
    return f"{table}\n\nMedian seconds per `POST /v1/audio/language` request: {cost:.3f}."


def _english_route(client: Client) -> str:
    rows = _manifest("asr_ljspeech")
    paths = [EVAL_DIR / "asr_ljspeech" / row["audio"] for row in rows]
    refs = [row["text"] for row in rows]
    audio_seconds = sum(float(row.get("duration_s") or 0) for row in rows)
    timings: dict[str, list[float]] = {"whisper-1": [], "tiny.en": []}
    texts: dict[str, list[str]] = {}
    for _ in range(REPEATS):
        for model in timings:  # interleaved
            started = time.perf_counter()
            texts[model] = [client.transcribe(path, model=model).text for path in paths]
            timings[model].append(time.perf_counter() - started)
    table_rows = []
    for model, seconds in timings.items():
        rtfx = audio_seconds / min(seconds) if audio_seconds else float("nan")
        table_rows.append([model, len(paths), _error_rate("en", refs, texts[model]), rtfx])
    speed = min(timings["tiny.en"]) / min(timings["whisper-1"])
    table = markdown_table(["model asked", "clips", "WER %", "RTFx (min of 3)"], table_rows)
    return f"{table}\n\nRouted speed relative to tiny.en direct: {speed:.2f}x."


def _other_languages(client: Client, base_dir: Path) -> str:
    direct = WhisperModel(str(base_dir), device="cpu", compute_type="int8", cpu_threads=THREADS)
    by_language: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _manifest("multilingual"):
        by_language[row["language"]].append(row)
    rows = []
    for language, items in sorted(by_language.items()):
        paths = [EVAL_DIR / "multilingual" / row["audio"] for row in items]
        refs = [row["text"] for row in items]
        ours = [client.transcribe(path, model="whisper-1").text for path in paths]
        theirs = [
            "".join(s.text for s in direct.transcribe(str(path), beam_size=5)[0]).strip()
            for path in paths
        ]
        metric = "CER" if language in _CHARACTER_LANGUAGES else "WER"
        rows.append(
            [
                language,
                len(items),
                metric,
                _error_rate(language, refs, ours),
                _error_rate(language, refs, theirs),
            ]
        )
    return markdown_table(
        ["language", "clips", "metric", "Tympan whisper-1 %", "faster-whisper base direct %"],
        rows,
    )


def run() -> str:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(_env_file=None, data_dir=Path(data_dir), cpu_threads=THREADS)  # type: ignore[call-arg]
        with Client.in_process(settings) as client:
            warm = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"
            client.transcribe(warm, model="whisper-1")  # loads base (ID) and tiny.en
            clips = [
                (EVAL_DIR / "multilingual" / row["audio"], row["language"])
                for row in _manifest("multilingual")
            ] + [
                (EVAL_DIR / "asr_ljspeech" / row["audio"], "en")
                for row in _manifest("asr_ljspeech")[:10]
            ]
            base_dir = assemble_base_model(settings.models_dir / "whisper-base")
            return "\n\n".join(
                [
                    "### Language identification (whisper-base: first 4 s, or 30 s when "
                    "no language reaches 0.8 in 4 s)\n\n" + _identification(client, clips),
                    "### English: whisper-1 routed vs tiny.en asked directly\n\n"
                    + _english_route(client),
                    "### Other languages: whisper-1 routed to base vs faster-whisper direct "
                    "(base, beam 5)\n\n" + _other_languages(client, base_dir),
                ]
            )
