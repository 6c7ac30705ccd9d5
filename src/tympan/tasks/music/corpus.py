"""The training corpus: melodies from the corpus that the ``music21`` package ships.

Two styles: ``folk`` (the Essen folk song collection, ABC) and ``bach`` (the soprano lines of
Bach's chorales, MusicXML). Pieces are split into train / valid / test by a hash of their id,
so the split is the same on every machine, whatever subset is parsed. Parsing with music21 is
slow (~0.1-0.3 s a piece), so the parsed melodies are cached as JSON in the data dir.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from tympan.tasks.music.melody import GRID, Melody, Meter, MusicKey, Note, quantise

__all__ = ["STYLES", "Piece", "Split", "load_corpus", "melody_from_stream", "piece_split"]

log = logging.getLogger(__name__)

Split = Literal["train", "valid", "test"]
STYLES = {
    "folk": "Essen folk song collection (music21 corpus 'essenFolksong', ABC)",
    "bach": "Bach chorales, soprano line (music21 corpus 'bach', MusicXML)",
}
_MIN_NOTES = 8
_CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Piece:
    """One corpus melody and its stable id (e.g. ``essen/altdeu10/12``)."""

    id: str
    melody: Melody

    @property
    def split(self) -> Split:
        return piece_split(self.id)


def piece_split(piece_id: str) -> Split:
    """80/10/10 train/valid/test by a hash of the id: stable across machines and subsets."""
    bucket = int(hashlib.sha1(piece_id.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else "valid" if bucket < 90 else "test"


def melody_from_stream(stream: Any) -> Melody | None:
    """The monophonic line of a music21 part (or a score's first part): top note of chords,
    ties merged.

    None when the line is unusable here: no notes, or a change of meter part way through.
    """
    from music21 import key, meter

    parts = getattr(stream, "parts", None)
    if parts is not None and len(parts):
        stream = parts[0]
    flat = stream.flatten()
    signatures = list(flat.getElementsByClass(meter.TimeSignature))
    if len({signature.ratioString for signature in signatures}) > 1:
        return None
    found = Meter(signatures[0].numerator, signatures[0].denominator) if signatures else Meter()
    keys = list(flat.getElementsByClass(key.Key))
    music_key = keys[0] if keys else stream.analyze("key")
    notes: list[Note] = []
    for element in flat.notesAndRests:
        onset, duration = quantise(float(element.offset)), quantise(element.quarterLength)
        if duration <= 0 or (notes and onset < notes[-1].end):
            continue  # grace notes, and a second voice inside the part
        pitch = _top_pitch(element)
        tie = getattr(element, "tie", None)
        previous = notes[-1] if notes else None
        tied = tie is not None and tie.type in ("stop", "continue")
        if tied and previous and previous.pitch == pitch and previous.end == onset:
            notes[-1] = Note(previous.onset, previous.duration + duration, pitch)
        else:
            notes.append(Note(onset, duration, pitch))
    while notes and notes[-1].pitch is None:
        notes.pop()
    if not notes:
        return None
    pickup = Fraction(0)
    measures = list(stream.recurse().getElementsByClass("Measure"))
    if measures:
        first = quantise(measures[0].duration.quarterLength)
        pickup = first if 0 < first < found.bar_beats else Fraction(0)
    tonic = music_key.tonic.pitchClass
    mode = "minor" if music_key.mode == "minor" else "major"
    return Melody(tuple(notes), MusicKey(tonic, mode), found, pickup)


def _top_pitch(element: Any) -> int | None:
    if element.isRest:
        return None
    return max(pitch.midi for pitch in element.pitches)


def _folk_sources() -> Iterator[tuple[str, Callable[[], Any]]]:
    from music21 import converter, corpus

    for path in sorted(corpus.getComposer("essenFolksong"), key=str):
        if Path(path).stem.startswith("test"):
            continue  # music21's own parser test files, not songs
        text = Path(path).read_text(encoding="latin-1")
        for tune in re.split(r"\n(?=X:)", text):
            match = re.match(r"X:\s*(\d+)", tune.strip())
            if match:
                piece_id = f"essen/{Path(path).stem}/{match.group(1)}"
                yield piece_id, lambda tune=tune: converter.parseData(tune, format="abc")


def _bach_sources() -> Iterator[tuple[str, Callable[[], Any]]]:
    from music21 import corpus

    for path in sorted(corpus.getComposer("bach", fileExtensions=("mxl",)), key=str):
        piece_id = f"bach/{Path(path).stem}"
        yield piece_id, lambda path=path: corpus.parse(str(path))


def _soprano(score: Any) -> Any | None:
    for part in score.parts:
        if "soprano" in f"{part.id} {part.partName}".lower():
            return part
    return None


def _parse_piece(style: str, load: Callable[[], Any]) -> Melody | None:
    parsed = load()
    if style == "bach":
        parsed = _soprano(parsed)
    return melody_from_stream(parsed) if parsed is not None else None


def _sources(style: str) -> list[tuple[str, Callable[[], Any]]]:
    if style not in STYLES:
        raise ValueError(f"unknown music style {style!r}; known: {sorted(STYLES)}")
    sources = list(_folk_sources() if style == "folk" else _bach_sources())
    # A hash order makes any prefix an even sample of the whole collection.
    return sorted(sources, key=lambda item: hashlib.sha1(item[0].encode()).hexdigest())


def load_corpus(
    style: str,
    limit: int,
    cache_dir: Path | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[Piece]:
    """Up to ``limit`` usable pieces of ``style`` (parsed once, then read from the cache)."""
    cache = cache_dir / f"corpus-{style}-{limit}-v{_CACHE_VERSION}.json" if cache_dir else None
    if cache is not None and cache.is_file():
        return [_piece_from_json(item) for item in json.loads(cache.read_text())]
    pieces: list[Piece] = []
    skipped = 0
    for index, (piece_id, load) in enumerate(_sources(style)):
        if len(pieces) >= limit:
            break
        try:
            melody = _parse_piece(style, load)
        except Exception as exc:  # music21 raises many kinds on malformed corpus files
            log.debug("skipping %s: %s", piece_id, exc)
            melody = None
        if melody is None or len(melody.pitched) < _MIN_NOTES:
            skipped += 1
        else:
            pieces.append(Piece(piece_id, melody))
        if progress is not None and index % 25 == 0:
            progress(len(pieces) / limit, f"parsing the {style} corpus: {len(pieces)} pieces")
    log.info("%s corpus: %d pieces, %d skipped", style, len(pieces), skipped)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps([_piece_to_json(piece) for piece in pieces]))
        tmp.replace(cache)
    return pieces


def _piece_to_json(piece: Piece) -> dict[str, Any]:
    melody = piece.melody
    return {
        "id": piece.id,
        "key": [melody.key.tonic, melody.key.mode],
        "meter": str(melody.meter),
        "pickup": int(melody.pickup * GRID),
        "notes": [
            [int(note.onset * GRID), int(note.duration * GRID), note.pitch] for note in melody.notes
        ],
    }


def _piece_from_json(item: dict[str, Any]) -> Piece:
    notes = tuple(
        Note(Fraction(onset, GRID), Fraction(duration, GRID), pitch)
        for onset, duration, pitch in item["notes"]
    )
    melody = Melody(
        notes, MusicKey(*item["key"]), Meter.parse(item["meter"]), Fraction(item["pickup"], GRID)
    )
    return Piece(item["id"], melody)
