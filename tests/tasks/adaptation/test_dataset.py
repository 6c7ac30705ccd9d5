"""Fine-tuning manifests: both formats read, every bad input refused with the row named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import EVAL_DIR
from tests.conftest import read_manifest as read_eval_manifest
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio
from tympan.errors import InvalidDataset, InvalidParameter
from tympan.tasks.adaptation.dataset import (
    MAX_SPEAKER_OVERSHOOT,
    Utterance,
    read_manifest,
    split_dataset,
)

ADAPT = EVAL_DIR / "asr_adapt"


def _dataset(folder: Path, count: int = 4) -> list[dict[str, str]]:
    """``count`` real asr_adapt clips copied into ``folder`` (from two speakers), as rows."""
    rows = read_eval_manifest("asr_adapt")
    chosen = [r for r in rows if r["speaker"] == rows[0]["speaker"]][: count // 2]
    chosen += [r for r in rows if r["speaker"] == rows[-1]["speaker"]][: count - len(chosen)]
    out = []
    for row in chosen:
        name = Path(row["audio"]).name
        shutil.copyfile(ADAPT / row["audio"], folder / name)
        out.append({"audio": name, "text": row["text"], "speaker": row["speaker"]})
    return out


def _write_csv(
    folder: Path, rows: list[dict[str, str]], columns=("audio", "text", "speaker")
) -> None:
    lines = [",".join(columns)] + [",".join(row.get(c, "") for c in columns) for row in rows]
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")


def test_csv_manifest_reads_every_row(tmp_path: Path) -> None:
    rows = _dataset(tmp_path)
    _write_csv(tmp_path, rows, ("audio", "text", "speaker"))
    utterances = read_manifest(tmp_path)
    assert [u.text for u in utterances] == [r["text"] for r in rows]
    assert all(u.audio.is_absolute() and u.audio.is_file() for u in utterances)
    assert {u.speaker for u in utterances} == {r["speaker"] for r in rows}


def test_jsonl_manifest_reads_and_ignores_extra_keys(tmp_path: Path) -> None:
    rows = _dataset(tmp_path)
    lines = [json.dumps({**row, "note": "ignored"}) for row in rows]
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n\n")
    assert [u.text for u in read_manifest(tmp_path)] == [r["text"] for r in rows]


def test_speaker_is_optional(tmp_path: Path) -> None:
    _write_csv(tmp_path, _dataset(tmp_path), ("audio", "text"))
    assert all(u.speaker is None for u in read_manifest(tmp_path))


def test_no_manifest(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataset, match=r"no manifest\.csv or manifest\.jsonl"):
        read_manifest(tmp_path)


def test_missing_column(tmp_path: Path) -> None:
    _write_csv(tmp_path, _dataset(tmp_path), ("audio", "speaker"))
    with pytest.raises(InvalidDataset, match="no text column") as error:
        read_manifest(tmp_path)
    assert error.value.status == 400


def test_mismatched_row_and_bad_json(tmp_path: Path) -> None:
    rows = _dataset(tmp_path)
    (tmp_path / "manifest.csv").write_text(f"audio,text\n{rows[0]['audio']}\n")
    with pytest.raises(InvalidDataset, match=r"row 1: .*empty text"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").unlink()
    (tmp_path / "manifest.jsonl").write_text('{"audio": "a.opus", "text": "x"}\n{"audio": \n')
    with pytest.raises(InvalidDataset, match="row 2 is not JSON"):
        read_manifest(tmp_path)


def test_missing_file_and_empty_text_are_named_by_row(tmp_path: Path) -> None:
    rows = _dataset(tmp_path)
    rows[1] = {**rows[1], "audio": "absent.opus"}
    rows[3] = {**rows[3], "text": "  "}
    _write_csv(tmp_path, rows)
    with pytest.raises(InvalidDataset) as error:
        read_manifest(tmp_path)
    message = error.value.message
    assert "2 unusable rows" in message
    assert "row 2: absent.opus: no such file" in message
    assert "row 4: " in message and "empty text" in message


def test_undecodable_file(tmp_path: Path) -> None:
    rows = _dataset(tmp_path, count=2)
    shutil.copyfile(EVAL_DIR / "bad_inputs" / "random_bytes.mp3", tmp_path / "noise.mp3")
    _write_csv(tmp_path, [*rows, {"audio": "noise.mp3", "text": "HELLO"}])
    with pytest.raises(InvalidDataset, match=r"row 3: noise\.mp3: "):
        read_manifest(tmp_path)


def test_clip_over_30_seconds(tmp_path: Path) -> None:
    speech = decode_audio(EVAL_DIR / "asr_ljspeech" / "LJ001-0001.flac").samples
    long = np.tile(speech, 4)[: 31 * 16000]
    (tmp_path / "long.flac").write_bytes(encode_audio(long, 16000, "flac"))
    _write_csv(tmp_path, [{"audio": "long.flac", "text": "PRINTING"}], ("audio", "text"))
    with pytest.raises(InvalidDataset, match=r"long.flac: 31.0 s, over Whisper's 30 s"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("path", ["../outside.opus", "/etc/passwd", "link.opus"])
def test_paths_escaping_the_folder(tmp_path: Path, path: str) -> None:
    folder = tmp_path / "dataset"
    folder.mkdir()
    rows = _dataset(folder, count=2)
    shutil.copyfile(folder / rows[0]["audio"], tmp_path / "outside.opus")
    (folder / "link.opus").symlink_to(tmp_path / "outside.opus")
    _write_csv(folder, [*rows, {"audio": path, "text": "HELLO"}])
    with pytest.raises(InvalidDataset, match=r"row 3: .*outside the dataset folder"):
        read_manifest(folder)


def _utterances(speakers: list[str | None]) -> list[Utterance]:
    return [Utterance(Path(f"/d/{n}.opus"), f"text {n}", s) for n, s in enumerate(speakers)]


def test_split_holds_out_whole_speakers() -> None:
    utterances = _utterances([f"s{n % 5}" for n in range(50)])
    train, validation = split_dataset(utterances, validation_share=0.2, seed=1)
    assert len(train) + len(validation) == 50
    assert {u.speaker for u in train}.isdisjoint({u.speaker for u in validation})
    assert len(validation) == 10
    assert split_dataset(utterances, 0.2, seed=1) == (train, validation)


def test_split_falls_back_to_a_random_share_when_speakers_overshoot_it() -> None:
    # a corrections batch of 50 from three speakers (20, 20, 10), 10 asked for: a whole
    # speaker of 20 would hold out twice that, so those seeds split at random instead
    batch = _utterances(["a"] * 20 + ["b"] * 20 + ["c"] * 10)
    held_speakers = []
    for seed in range(8):
        train, held = split_dataset(batch, validation_share=0.2, seed=seed)
        assert (len(train), len(held)) == (40, 10) and set(train).isdisjoint(held)
        held_speakers.append({u.speaker for u in held})
    assert {"c"} in held_speakers  # whole speaker c is near enough: kept apart
    assert any(len(speakers) > 1 for speakers in held_speakers)  # the random fallback
    # its 40 training clips from two speakers of 20: the job's 10 % validation is random too
    train, validation = split_dataset(batch[:40], validation_share=0.1, seed=0)
    assert (len(train), len(validation)) == (36, 4)
    assert MAX_SPEAKER_OVERSHOOT < 2


def test_split_without_speakers_is_random_and_seeded() -> None:
    utterances = _utterances([None] * 20)
    train, validation = split_dataset(utterances, validation_share=0.1, seed=3)
    assert len(validation) == 2 and set(train).isdisjoint(validation)
    assert split_dataset(utterances, 0.1, seed=3) == (train, validation)


def test_too_small_to_split() -> None:
    with pytest.raises(InvalidDataset, match="cannot be split"):
        split_dataset(_utterances([None]))
    with pytest.raises(InvalidDataset, match="too small"):
        split_dataset(_utterances([None, None]), validation_share=0.9)


def test_validation_share_out_of_range() -> None:
    with pytest.raises(InvalidParameter):
        split_dataset(_utterances([None] * 10), validation_share=1.0)
