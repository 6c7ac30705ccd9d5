"""ASR: Tympan's API beside faster-whisper called directly, same model and threads, one run.

- WER (Whisper's English normaliser, jiwer) on asr_ljspeech, asr_small, asr_accents and the
  diarization sample conversation (whole 30 s against the STM text joined).
- Long audio (real clips joined to 10+ minutes): RTFx of Tympan (VAD chunks, batched decoding)
  against faster-whisper's sequential ``transcribe()``, and the WER of both.
- Short-clip request latency against the direct call (median over repeats, interleaved).
- 8 concurrent clients against the same requests one after another; errors counted.
- Memory: process RSS with the model loaded, the manager's accounting, peak RSS.
- Translation with the multilingual base model on FLEURS clips (WER against the English).
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jiwer
import numpy as np
import psutil
import soundfile
from faster_whisper import WhisperModel
from whisper_normalizer.english import EnglishTextNormalizer

from benchmarks._harness import EVAL_DIR, markdown_table, peak_rss_mb, ratio
from tympan.client import Client
from tympan.config import Settings
from tympan.tasks.asr.models import _tiny_en_path, assemble_base_model

_normalize = EnglishTextNormalizer()
THREADS = os.cpu_count() or 1
CLIENTS = 8


def _rows(folder: str) -> list[tuple[Path, str]]:
    import csv

    with (EVAL_DIR / folder / "manifest.csv").open(newline="") as handle:
        return [(EVAL_DIR / folder / r["audio"], r["text"]) for r in csv.DictReader(handle)]


def _conversation() -> list[tuple[Path, str]]:
    lines = (EVAL_DIR / "diarization" / "sample.stm").read_text().splitlines()
    text = " ".join(line.split(maxsplit=6)[6] for line in lines)
    return [(EVAL_DIR / "diarization" / "sample.wav", text)]


def _wer(references: list[str], hypotheses: list[str]) -> float:
    refs = [_normalize(text) for text in references]
    hyps = [_normalize(text) or "<empty>" for text in hypotheses]
    return 100 * jiwer.wer(refs, hyps)


def _direct(model: WhisperModel, audio: str | np.ndarray, **options: object) -> str:
    segments, _ = model.transcribe(audio, beam_size=5, **options)
    return "".join(segment.text for segment in segments).strip()


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16_000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _long_audio() -> tuple[np.ndarray, str]:
    """LJSpeech then the accented readings, 0.5 s apart: about 11.5 minutes of real speech."""
    pieces, texts = [], []
    for path, text in _rows("asr_ljspeech") + _rows("asr_accents"):
        samples, rate = soundfile.read(path, dtype="float32")
        assert rate == 16_000
        pieces += [samples, np.zeros(8_000, np.float32)]
        texts.append(text)
    return np.concatenate(pieces), " ".join(texts)


def _timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def _wer_section(client: Client, direct: WhisperModel) -> str:
    rows = []
    for name, items in [
        ("asr_ljspeech", _rows("asr_ljspeech")),
        ("asr_small", _rows("asr_small")),
        ("asr_accents", _rows("asr_accents")),
        ("sample.stm conversation", _conversation()),
    ]:
        refs = [text for _, text in items]
        ours, ours_s = _timed(lambda items=items: [client.transcribe(p).text for p, _ in items])
        theirs, theirs_s = _timed(lambda items=items: [_direct(direct, str(p)) for p, _ in items])
        rows.append(
            [name, len(items), _wer(refs, ours), _wer(refs, theirs), ratio(theirs_s, ours_s)]
        )
    return markdown_table(
        ["set", "clips", "Tympan WER %", "faster-whisper WER %", "speed ratio (direct/Tympan)"],
        rows,
    )


def _long_section(client: Client, direct: WhisperModel) -> str:
    samples, reference = _long_audio()
    seconds = samples.size / 16_000
    upload = _wav(samples)
    runs = {  # alternated, so load changes on the machine hit both sides alike
        "Tympan (VAD chunks, batched; default)": lambda: client.transcribe(upload).text,
        "faster-whisper transcribe() (default)": lambda: _direct(direct, samples),
        "Tympan, condition_on_previous_text=true": lambda: (
            client.transcribe(upload, condition_on_previous_text=True).text
        ),
        "faster-whisper transcribe(condition_on_previous_text=False)": lambda: _direct(
            direct, samples, condition_on_previous_text=False
        ),
    }
    measured = {name: _timed(fn) for name, fn in runs.items()}
    rows = [
        [name, spent, seconds / spent, _wer([reference], [text])]
        for name, (text, spent) in measured.items()
    ]
    table = markdown_table(["path", "seconds", "RTFx", "WER %"], rows)
    (ours, ours_s), (theirs, theirs_s), _, (plain, plain_s) = measured.values()
    return (
        f"{seconds / 60:.1f} min of real speech (LJSpeech + the accented readings), beam 5, "
        f"{THREADS} threads.\n\n{table}\n\n"
        f"RTFx ratio Tympan / faster-whisper default: **{ratio(theirs_s, ours_s):.2f}x** "
        f"(goal >= 1.5x), WER {_wer([reference], [ours]) - _wer([reference], [theirs]):+.2f} "
        "points (goal within 0.3). Against faster-whisper without conditioning on previous "
        f"text (like for like): {ratio(plain_s, ours_s):.2f}x, WER "
        f"{_wer([reference], [ours]) - _wer([reference], [plain]):+.2f} points."
    )


def _latency_section(client: Client, direct: WhisperModel) -> str:
    clips = [path for path, _ in _rows("asr_ljspeech")[:6]]
    ours, theirs = [], []
    for _ in range(3):  # interleaved so load changes hit both sides alike
        for path in clips:
            ours.append(_timed(lambda path=path: client.transcribe(path))[1])
            theirs.append(_timed(lambda path=path: _direct(direct, str(path)))[1])
    overhead = statistics.median(ours) / statistics.median(theirs) - 1
    rows = [
        ["Tympan request (decode, VAD, queue, HTTP)", statistics.median(ours), min(ours)],
        ["faster-whisper transcribe()", statistics.median(theirs), min(theirs)],
    ]
    table = markdown_table(["path", "median s", "min s"], rows)
    return f"{table}\n\nShort-clip overhead: **{100 * overhead:+.1f}%** (goal <= +10%)."


def _concurrency_section(client: Client) -> str:
    clips = [path for path, _ in _rows("asr_ljspeech")[:16]]
    errors = 0

    def one(path: Path) -> str:
        nonlocal errors
        try:
            return client.transcribe(path).text
        except Exception:  # counted, not raised: the goal is zero
            errors += 1
            return ""

    serial, serial_s = _timed(lambda: [one(path) for path in clips])
    with ThreadPoolExecutor(CLIENTS) as pool:
        parallel, parallel_s = _timed(lambda: list(pool.map(one, clips)))
    same = sum(a == b for a, b in zip(serial, parallel, strict=True))
    rows = [
        ["serial", len(clips), serial_s, len(clips) / serial_s],
        [f"{CLIENTS} concurrent clients", len(clips), parallel_s, len(clips) / parallel_s],
    ]
    table = markdown_table(["mode", "requests", "seconds", "requests/s"], rows)
    return (
        f"{table}\n\nThroughput ratio: **{ratio(serial_s, parallel_s):.2f}x** (goal >= 1.3x); "
        f"errors: {errors}; identical transcripts: {same}/{len(clips)}."
    )


def _translation_section(client: Client, base_dir: Path) -> str:
    import csv

    with (EVAL_DIR / "multilingual" / "manifest.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["english"]]
    languages = ("de", "fr", "es", "pt", "zh")
    picked = [next(r for r in rows if r["language"] == lang) for lang in languages]
    paths = [EVAL_DIR / "multilingual" / r["audio"] for r in picked]
    refs = [r["english"] for r in picked]
    direct = WhisperModel(str(base_dir), device="cpu", compute_type="int8", cpu_threads=THREADS)
    ours, ours_s = _timed(lambda: [client.translate(p, model="whisper-base").text for p in paths])
    theirs, theirs_s = _timed(lambda: [_direct(direct, str(p), task="translate") for p in paths])
    table = markdown_table(
        ["path", "clips", "WER % vs English reference", "seconds"],
        [
            ["Tympan /v1/audio/translations", len(paths), _wer(refs, ours), ours_s],
            ["faster-whisper transcribe(task=translate)", len(paths), _wer(refs, theirs), theirs_s],
        ],
    )
    return f"Translation to English, whisper-base, FLEURS de/fr/es/pt/zh:\n\n{table}"


def run() -> str:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(_env_file=None, data_dir=Path(data_dir), cpu_threads=THREADS)  # type: ignore[call-arg]
        with Client.in_process(settings) as client:
            client.transcribe(EVAL_DIR / "asr_small" / "whisper_jfk.flac")  # load and warm up
            rss_loaded = psutil.Process().memory_info().rss / 2**20
            accounted = next(m for m in client.models("asr") if m["id"] == "whisper-tiny.en")
            direct = WhisperModel(
                str(_tiny_en_path()), device="cpu", compute_type="int8", cpu_threads=THREADS
            )
            _direct(direct, str(EVAL_DIR / "asr_small" / "whisper_jfk.flac"))
            sections = [
                "### WER (tiny.en, beam 5)\n\n" + _wer_section(client, direct),
                "### Long audio\n\n" + _long_section(client, direct),
                "### Short-clip latency\n\n" + _latency_section(client, direct),
                "### Concurrency\n\n" + _concurrency_section(client),
            ]
            base_dir = assemble_base_model(settings.models_dir / "whisper-base")
            sections.append("### Translation\n\n" + _translation_section(client, base_dir))
            memory = markdown_table(
                ["measure", "MiB"],
                [
                    ["process RSS, Tympan with tiny.en loaded and warm", rss_loaded],
                    [
                        "tiny.en as accounted by the model manager",
                        accounted["memory_bytes"] / 2**20,
                    ],
                    ["peak RSS of the whole run (both paths, base too)", peak_rss_mb()],
                ],
            )
            sections.append("### Memory\n\n" + memory)
    return "\n\n".join(sections)
