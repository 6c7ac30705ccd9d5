"""Speech datasets for fine-tuning: a folder with ``manifest.csv`` or ``manifest.jsonl``.

Each row names a clip (relative to the folder), its reference text and optionally its speaker.
``read_manifest`` checks every row before any training starts (the file exists inside the
folder, decodes, lasts at most Whisper's 30 s window, has text) and reports every problem
at once, by row; ``split_dataset`` holds out whole speakers for validation when they come
near the share asked for, so the validation WER measures voices the model did not train on.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tympan.audio import decode_audio
from tympan.errors import BadRequest, InvalidDataset, InvalidParameter
from tympan.paths import is_under

__all__ = [
    "MAX_CLIP_SECONDS",
    "MAX_SPEAKER_OVERSHOOT",
    "Utterance",
    "read_manifest",
    "split_dataset",
]

MAX_CLIP_SECONDS = 30.0  # Whisper's window: a longer clip cannot be one training example
_SHOWN_PROBLEMS = 10
MAX_SPEAKER_OVERSHOOT = 1.5  # whole speakers may hold out up to 1.5x the share asked for


@dataclass(frozen=True, slots=True)
class Utterance:
    """One clip and what was said in it; ``speaker`` keeps validation speaker-disjoint."""

    audio: Path
    text: str
    speaker: str | None = None


def _rows(folder: Path, required: tuple[str, ...]) -> tuple[str, Iterator[tuple[int, dict]]]:
    """The manifest's name and its rows (numbered from 1, as a reader counts data lines)."""
    csv_path, jsonl_path = folder / "manifest.csv", folder / "manifest.jsonl"
    if csv_path.is_file():
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [name for name in required if name not in columns]
            if missing:
                raise InvalidDataset(
                    f"manifest.csv has no {' or '.join(missing)} column (it has: "
                    f"{', '.join(columns) or 'nothing'}); it needs {','.join(required)}"
                    f"{'[,speaker]' if 'speaker' not in required else ''}."
                )
            return "manifest.csv", iter(list(enumerate(reader, start=1)))
    if jsonl_path.is_file():
        rows = []
        for number, line in enumerate(jsonl_path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidDataset(f"manifest.jsonl row {number} is not JSON: {exc}.") from exc
            if not isinstance(row, dict):
                raise InvalidDataset(f"manifest.jsonl row {number} is not a JSON object.")
            rows.append((number, row))
        return "manifest.jsonl", iter(rows)
    raise InvalidDataset("The dataset has no manifest.csv or manifest.jsonl at its top level.")


def _check_row(
    folder: Path, row: dict, required: tuple[str, ...]
) -> tuple[Utterance | None, str | None]:
    """The row's utterance, or why it cannot be trained on."""
    audio, text = str(row.get("audio") or "").strip(), str(row.get("text") or "").strip()
    speaker = str(row.get("speaker") or "").strip() or None
    if not audio:
        return None, "no audio path"
    if not text and "text" in required:
        return None, f"{audio}: empty text"
    if speaker is None and "speaker" in required:
        return None, f"{audio}: no speaker"
    path = folder / audio
    if Path(audio).is_absolute() or ".." in Path(audio).parts or not is_under(path, [folder]):
        return None, f"{audio}: the path leads outside the dataset folder"
    if not path.is_file():
        return None, f"{audio}: no such file in the dataset"
    try:
        duration = decode_audio(path).duration
    except BadRequest as exc:
        return None, f"{audio}: {exc.message}"
    if duration > MAX_CLIP_SECONDS:
        return None, f"{audio}: {duration:.1f} s, over Whisper's {MAX_CLIP_SECONDS:.0f} s window"
    return Utterance(path.resolve(), text, speaker), None


def read_manifest(folder: Path, required: tuple[str, ...] = ("audio", "text")) -> list[Utterance]:
    """Every utterance of the dataset in ``folder``; ``InvalidDataset`` (400) naming each bad row.

    Columns (or JSON keys) ``required`` must be there and filled (fine-tuning needs ``audio``
    and ``text``, overlap training ``audio`` and ``speaker``); ``speaker`` is otherwise
    optional and other columns are ignored. Every file is decoded once here, so a bad clip
    stops the job before it trains.
    """
    folder = folder.resolve()
    name, rows = _rows(folder, required)
    utterances, problems = [], []
    for number, row in rows:
        utterance, problem = _check_row(folder, row, required)
        if problem:
            problems.append(f"row {number}: {problem}")
        elif utterance:
            utterances.append(utterance)
    if problems:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        more = (
            f" (and {len(problems) - _SHOWN_PROBLEMS} more)"
            if len(problems) > _SHOWN_PROBLEMS
            else ""
        )
        raise InvalidDataset(f"{name}: {len(problems)} unusable rows: {shown}{more}.")
    if not utterances:
        raise InvalidDataset(f"{name} lists no utterances.")
    return utterances


def split_dataset(
    utterances: Sequence[Utterance], validation_share: float = 0.1, seed: int = 0
) -> tuple[list[Utterance], list[Utterance]]:
    """(train, validation): whole speakers held out when every utterance names one, there
    are at least two and whole speakers come near the share (at most ``MAX_SPEAKER_OVERSHOOT``
    times it), else a random share; ``InvalidDataset`` (400) when too small to split.

    Near, because a few speakers make coarse steps: 50 corrections from speakers of 20, 20 and
    10 clips held back 20 where 10 were asked (bench_corrections), and the job's own
    validation split then took 20 of the remaining 30, leaving 10 clips to train on."""
    if not 0.0 < validation_share < 1.0:
        raise InvalidParameter(
            f"validation_share must be between 0 and 1, not {validation_share}.",
            param="validation_share",
        )
    wanted = max(1, round(validation_share * len(utterances)))
    rng = random.Random(seed)
    speakers = sorted({u.speaker for u in utterances if u.speaker is not None})
    validation: list[Utterance] = []
    if len(speakers) >= 2 and all(u.speaker is not None for u in utterances):
        rng.shuffle(speakers)
        held: set[str] = set()
        for speaker in speakers[:-1]:  # at least one speaker stays for training
            if sum(u.speaker in held for u in utterances) >= wanted:
                break
            held.add(speaker)
        validation = [u for u in utterances if u.speaker in held]
        train = [u for u in utterances if u.speaker not in held]
    if not validation or len(validation) > MAX_SPEAKER_OVERSHOOT * wanted:
        if len(utterances) < 2:
            raise InvalidDataset(
                f"{len(utterances)} utterance cannot be split into training and validation; "
                "give at least 2 (more than 20 to learn anything)."
            )
        order = list(utterances)
        rng.shuffle(order)
        validation, train = order[:wanted], order[wanted:]
    if not train or not validation:
        raise InvalidDataset("The dataset is too small to split into training and validation.")
    return train, validation
