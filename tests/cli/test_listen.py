"""``tympan listen``: a file played to a live server, turns printed as they finish."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.conftest import EVAL_DIR
from tests.live_audio import wer
from tympan.cli import app

SHORT = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"


def test_listen_prints_each_turn_with_its_speaker(live_server: str) -> None:
    args = ["listen", str(SHORT), "--server", live_server, "--speed", "8", "--speakers"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.strip()]
    assert line.startswith("[00:0") and "SPEAKER_0: " in line
    assert wer("in being comparatively modern.", line.split(": ", 1)[1]) < 0.15


def test_listen_json_prints_the_realtime_events(live_server: str) -> None:
    args = ["listen", str(SHORT), "--server", live_server, "--speed", "8", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    kinds = [json.loads(line)["type"] for line in result.stdout.splitlines()]
    assert "input_audio_buffer.speech_started" in kinds
    assert kinds[-1] == "conversation.item.input_audio_transcription.completed"


def test_listen_needs_exactly_one_source() -> None:
    assert CliRunner().invoke(app, ["listen"]).exit_code != 0
    assert CliRunner().invoke(app, ["listen", str(SHORT), "--mic"]).exit_code != 0
