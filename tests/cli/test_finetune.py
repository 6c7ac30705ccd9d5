"""``tympan asr finetune DATASET`` in-process: a folder of real accented speech becomes a
fine-tuned model that the next command transcribes with, by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.adapt_data import ADAPT, adapt_rows
from tympan.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TYMPAN_SERVER", raising=False)


def _folder(root: Path, rows: list[dict[str, str]]) -> Path:
    """The rows' clips copied under ``root`` beside a manifest.csv."""
    lines = ["audio,text,speaker"]
    for row in rows:
        target = root / row["audio"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ADAPT / row["audio"], target)
        lines.append(f"{row['audio']},{row['text']},{row['speaker']}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


def test_finetune_a_folder_then_transcribe_by_name(tmp_path: Path) -> None:
    data = _folder(tmp_path / "accent", adapt_rows("train", 8, speakers=4))
    done = runner.invoke(
        app,
        ["asr", "finetune", str(data), "--model", "tiny.en", "--suffix", "cli", "--epochs", "1",
         "--batch-size", "2", "--max-steps", "2", "--seed", "1", "--layers", "decoder"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    job = json.loads(done.stdout)
    assert job["status"] == "succeeded" and job["fine_tuned_model"] == "ft:whisper-tiny.en:cli:1"
    clip = ADAPT / adapt_rows("test", 1)[0]["audio"]
    heard = runner.invoke(app, ["transcribe", str(clip), "--model", job["fine_tuned_model"]])
    assert heard.exit_code == 0 and heard.stdout.strip(), heard.output
    promoted = runner.invoke(app, ["asr", "promote", "ft:whisper-tiny.en:cli", "1"])
    assert promoted.exit_code == 0 and json.loads(promoted.stdout)["stage"] == "production"
    listed = runner.invoke(app, ["asr", "versions", "ft:whisper-tiny.en:cli"])
    assert [item["stage"] for item in json.loads(listed.stdout)] == ["production"]
    refused = runner.invoke(app, ["asr", "rollback", "ft:whisper-tiny.en:cli"])
    assert refused.exit_code == 1 and "409" in refused.output


def test_a_bad_dataset_exits_with_the_error(tmp_path: Path) -> None:
    data = tmp_path / "empty"
    data.mkdir()
    (data / "notes.txt").write_text("no manifest here\n")
    done = runner.invoke(app, ["asr", "finetune", str(data)])
    assert done.exit_code == 1
    assert "400" in done.output and "manifest" in done.output
