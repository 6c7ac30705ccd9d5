"""``tympan enhance noisy.wav -o clean.wav``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.noisy_audio import noisy_speech
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio
from tympan.cli import app
from tympan.tasks.enhancement.snr import si_sdr


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TYMPAN_SERVER", raising=False)
    return CliRunner()


def test_enhance_writes_a_cleaner_file(runner: CliRunner, tmp_path: Path) -> None:
    noisy, clean = noisy_speech(0.0)
    source = tmp_path / "noisy.wav"
    source.write_bytes(encode_audio(noisy, 16_000, "wav"))
    out = tmp_path / "clean.flac"
    result = runner.invoke(app, ["enhance", str(source), "-o", str(out), "--model", "rnnoise"])
    assert result.exit_code == 0, result.output
    enhanced = decode_audio(out).samples
    assert enhanced.shape == noisy.shape
    assert si_sdr(clean, enhanced) > si_sdr(clean, noisy) + 1.0


def test_enhance_refuses_an_unknown_model(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "noisy.wav"
    source.write_bytes(encode_audio(noisy_speech(5.0)[0], 16_000, "wav"))
    result = runner.invoke(
        app, ["enhance", str(source), "-o", str(tmp_path / "x.wav"), "--model", "nope"]
    )
    assert result.exit_code != 0 and "nope" in result.output
    assert not (tmp_path / "x.wav").exists()
