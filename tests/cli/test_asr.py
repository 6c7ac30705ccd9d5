"""``tympan transcribe``: subtitles written per file, errors reported, in-process."""

from __future__ import annotations

import gc
import io
import logging
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.conftest import EVAL_DIR
from tympan.cli import app

JFK = EVAL_DIR / "asr_small" / "whisper_jfk.flac"
LJ2 = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"
SAMPLE = EVAL_DIR / "diarization" / "sample.wav"


@pytest.fixture()
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def test_transcribe_files_to_srt_in_a_folder(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "subs"
    result = runner.invoke(
        app, ["transcribe", str(JFK), str(LJ2), "--format", "srt", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    jfk = (out / "whisper_jfk.srt").read_text()
    assert jfk.startswith("1\n00:00:00,") and "ask not what your country" in jfk.lower()
    assert "comparatively modern" in (out / "LJ001-0002.srt").read_text().lower()


def test_transcribe_to_stdout_and_refusals(
    runner: CliRunner, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        result = runner.invoke(app, ["transcribe", str(LJ2), "--format", "text"])
        gc.collect()  # an unretrieved task exception is logged when its task is collected
    assert result.exit_code == 0 and "comparatively modern" in result.output.lower()
    # The progress stream was read to its end: closed early, the in-process server's last
    # send failed and its task's exception went to the terminal.
    assert not [record for record in caplog.records if record.name == "asyncio"], caplog.text
    bad_format = runner.invoke(app, ["transcribe", str(LJ2), "--format", "docx"])
    assert bad_format.exit_code != 0
    refused = runner.invoke(app, ["transcribe", str(LJ2), "--translate", "--model", "tiny.en"])
    assert refused.exit_code == 1 and "English-only" in refused.output


def test_diarized_subtitles_with_a_bar_per_stage(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(
        "tympan.cli.asr.err_console", Console(file=terminal, force_terminal=True, width=120)
    )
    result = runner.invoke(app, ["transcribe", str(SAMPLE), "--diarize", "--format", "srt"])
    assert result.exit_code == 0, result.output
    cues = [block.splitlines() for block in result.stdout.strip().split("\n\n")]
    assert len(cues) >= 5 and all(len(cue) == 3 for cue in cues)  # number, times, text
    speakers = {cue[2].split(":")[0] for cue in cues}
    assert speakers == {"SPEAKER_00", "SPEAKER_01"}, cues
    bars = terminal.getvalue()
    assert "sample.wav: transcribing" in bars and "sample.wav: speakers" in bars
    assert bars.count("100%") >= 2
    refused = runner.invoke(app, ["transcribe", str(SAMPLE), "--diarize", "--translate"])
    assert refused.exit_code != 0
