from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tympan.audio import decode_audio
from tympan.cli import app
from tympan.cli._common import format_for

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TYMPAN_SERVER", raising=False)


@pytest.mark.parametrize(
    ("out", "fmt", "expected"),
    [
        ("a.mp3", None, "mp3"),
        ("a.WAV", None, "wav"),
        ("a.ogg", None, "opus"),
        ("a.raw", None, "pcm"),
        ("a.m4a", None, "aac"),
        ("a.mp3", "flac", "flac"),
        (None, None, "mp3"),
    ],
)
def test_format_follows_option_then_suffix(out, fmt, expected):
    assert format_for(Path(out) if out else None, fmt) == expected


def test_unknown_format_is_a_usage_error():
    with pytest.raises(typer.BadParameter):
        format_for(Path("a.xyz"), None)


def test_speak_text_to_file_then_stdin_with_speed(tmp_path):
    normal = tmp_path / "normal.wav"
    result = runner.invoke(app, ["speak", "Testing the command line voice.", "-o", str(normal)])
    assert result.exit_code == 0, result.output
    fast = tmp_path / "fast.flac"
    result = runner.invoke(
        app,
        ["speak", "-o", str(fast), "--speed", "2", "--voice", "echo"],
        input="Testing the command line voice.",
    )
    assert result.exit_code == 0, result.output
    assert decode_audio(fast).duration < 0.8 * decode_audio(normal).duration


def test_speak_errors_leave_no_file(tmp_path):
    out = tmp_path / "none.mp3"
    result = runner.invoke(app, ["speak", "   ", "-o", str(out)])
    assert result.exit_code == 1
    assert "empty_input" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["speak", "Hi.", "-o", str(tmp_path / "x.doc")])
    assert result.exit_code == 2


def test_voices_lists_joe():
    result = runner.invoke(app, ["voices"])
    assert result.exit_code == 0, result.output
    assert "joe" in result.output and "piper-joe-medium" in result.output
