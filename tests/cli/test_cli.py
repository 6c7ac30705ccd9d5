"""The ``tympan`` command line, in-process, on real audio."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tympan.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TYMPAN_SERVER", raising=False)


def test_vad_formats(eval_dir) -> None:
    wav = str(eval_dir / "diarization" / "sample.wav")
    result = runner.invoke(app, ["vad", wav, "--format", "rttm"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines and all(line.startswith("SPEAKER sample 1 ") for line in lines)
    csv = runner.invoke(app, ["vad", wav, "--format", "csv", "--method", "energy"]).stdout
    assert csv.splitlines()[0] == "file,start,end,confidence" and len(csv.splitlines()) > 1
    body = json.loads(runner.invoke(app, ["vad", wav]).stdout)
    assert body["file"] == "sample" and body["segments"]


def test_vad_many_files_to_a_file(eval_dir, tmp_path) -> None:
    files = [str(eval_dir / "bad_inputs" / name) for name in ("speech.ogg", "speech.opus")]
    out = tmp_path / "speech.rttm"
    result = runner.invoke(app, ["vad", *files, "--format", "rttm", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) >= 2


def test_features_writes_npy(eval_dir, tmp_path) -> None:
    out = tmp_path / "x.npy"
    wav = str(eval_dir / "bad_inputs" / "speech.ogg")
    result = runner.invoke(
        app, ["features", wav, "--kind", "mfcc", "--deltas", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert np.load(out).shape[1] == 26


def test_bad_audio_exits_with_a_clear_message(eval_dir) -> None:
    result = runner.invoke(app, ["vad", str(eval_dir / "bad_inputs" / "empty.wav")])
    assert result.exit_code == 1
    assert "400" in result.output and "empty" in result.output


def test_models_lists_silero() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "silero-vad" in result.stdout


def test_serve_refuses_open_address_without_keys(monkeypatch) -> None:
    monkeypatch.delenv("TYMPAN_API_KEYS", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "Refusing" in result.output


def test_commands_run_against_a_server(live_server, eval_dir) -> None:
    wav = str(eval_dir / "bad_inputs" / "speech.ogg")
    result = runner.invoke(app, ["vad", wav, "--format", "csv", "--server", live_server])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("speech,")
    models = runner.invoke(app, ["models", "--server", live_server])
    assert "silero-vad" in models.stdout


def test_serve_warns_of_tympan_variables_that_name_no_setting() -> None:
    """A misspelt or renamed setting would change nothing, so ``serve`` says so, with the
    closest setting, before it starts (here it then refuses the open Wyoming bind)."""
    env = {
        "TYMPAN_RAY_ASR_UPSCALE_DELAY_SECONDS": "1",
        "TYMPAN_API_KEY": "secret",
        "TYMPAN_PORT": "8123",  # a setting: no warning
    }
    result = runner.invoke(app, ["serve", "--wyoming", "tcp://0.0.0.0:10300"], env=env)
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "Refusing to serve Wyoming" in said
    assert (
        "TYMPAN_API_KEY is not a Tympan setting and changes nothing (did you mean TYMPAN_API_KEYS?)"
    ) in said
    assert "TYMPAN_RAY_ASR_UPSCALE_DELAY_SECONDS is not a Tympan setting" in said
    assert "did you mean TYMPAN_RAY_UPSCALE_DELAY_SECONDS?" in said
    assert "TYMPAN_PORT is not" not in said
