"""Words without training: a glossary of rare names, given as ``hotwords`` or as ``prompt``.

The long-form chapter (``../shared/eval/longform``, LJSpeech book LJ001 on the history of
printing) is full of printers' and towns' names that tiny.en has rarely heard: Caxton, Jenson,
Schoeffer, Sweynheim and Pannartz. Each clip whose text holds one of ``GLOSSARY`` is cut from
the chapter at its ``segments.csv`` offsets and transcribed with tiny.en (beam 5) through the
in-process API three ways: no glossary, the glossary as ``hotwords`` (faster-whisper's prefix
before the previous-text prompt) and as ``prompt``. Reported: how many of the names' occurrences
come out spelled right, and the WER of those clips; and the WER of as many clips without any of
the names, which a glossary must not hurt.
"""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio
from tympan.client import Client
from tympan.config import Settings

MODEL = "whisper-tiny.en"
GLOSSARY = (
    "Aldus, Augsburg, Baskerville, Basle, Bodoni, Caslon, Caxton, Chiswick, Didot, Elzevirs, "
    "Gering, Gunther, Gutenberg, Jenson, Lubeck, Maintz, Mentelin, Neild, Pannartz, Rubeus, "
    "Schoeffer, Schussler, Subiaco, Sweynheim, Udalric, Vindelin, Willoughby, Wynkyn de Worde, "
    "Zeiner"
)
NAMES = tuple(word for entry in GLOSSARY.split(", ") for word in entry.split() if word[0].isupper())
_normalize = EnglishTextNormalizer()


def _clips() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The chapter's clips that hold a glossary name, and as many (the first) that hold none."""
    with (EVAL_DIR / "longform" / "segments.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    named = [row for row in rows if _names_in(row["text"])]
    plain = [row for row in rows if not _names_in(row["text"])][: len(named)]
    return named, plain


def _names_in(text: str) -> list[str]:
    words = re.findall(r"[A-Za-z]+", text)
    return [word for word in words if word in NAMES]


def _write(rows: list[dict[str, str]], folder: Path) -> list[Path]:
    chapter = decode_audio(EVAL_DIR / "longform" / "lj001.opus")
    paths = []
    for row in rows:
        clip = chapter.slice(float(row["start_s"]), float(row["end_s"]))
        path = folder / f"{row['clip']}.flac"
        path.write_bytes(encode_audio(clip.samples, clip.sample_rate, "flac"))
        paths.append(path)
    return paths


def _wer(rows: list[dict[str, str]], texts: list[str]) -> float:
    references = [_normalize(row["text"]) for row in rows]
    return 100 * jiwer.wer(references, [_normalize(text) or "<empty>" for text in texts])


def _names_right(rows: list[dict[str, str]], texts: list[str]) -> tuple[int, int]:
    right = total = 0
    for row, text in zip(rows, texts, strict=True):
        said = set(re.findall(r"[A-Za-z]+", text))
        for name in _names_in(row["text"]):
            total += 1
            right += name in said
    return right, total


def run() -> str:
    named, plain = _clips()
    ways: dict[str, dict[str, str]] = {
        "none": {},
        "stored glossary": {},  # PUT /v1/models/{model}/glossary, then plain requests
        "request hotwords": {"hotwords": GLOSSARY},
        "request prompt": {"prompt": GLOSSARY},
    }
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        named_paths, plain_paths = _write(named, folder), _write(plain, folder)
        with Client.in_process(Settings(_env_file=None, data_dir=folder / "data")) as client:
            for way, extra in ways.items():
                if way == "stored glossary":
                    client.set_glossary(MODEL, GLOSSARY.split(", "))
                named_texts = [client.transcribe(p, model=MODEL, **extra).text for p in named_paths]
                plain_texts = [client.transcribe(p, model=MODEL, **extra).text for p in plain_paths]
                if way == "stored glossary":
                    client.delete_glossary(MODEL)
                right, total = _names_right(named, named_texts)
                table.append(
                    [
                        way,
                        f"{right}/{total}",
                        100 * right / total,
                        _wer(named, named_texts),
                        _wer(plain, plain_texts),
                    ]
                )
    headers = [
        "glossary given as",
        "names right",
        "names right %",
        f"WER %, {len(named)} clips with names",
        f"WER %, {len(plain)} clips without",
    ]
    return (
        f"tiny.en, beam 5, {len(NAMES)} name words in the glossary; {machine_load()}.\n\n"
        + markdown_table(headers, table)
    )
