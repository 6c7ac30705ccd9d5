"""``tympan enhance``: a noisy file in, a cleaner file of the same length out."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.noisy_speech import CLIP_SECONDS, NOISE, SPEECH, mix_at_snr, si_sdr_db
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio
from tympan.cli import app
from tympan.config import SAMPLE_RATE

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TYMPAN_SERVER", raising=False)


def test_enhance_writes_a_cleaner_file(tmp_path) -> None:
    clean = decode_audio(SPEECH).slice(0.0, CLIP_SECONDS).samples
    noisy = mix_at_snr(clean, decode_audio(NOISE).samples, 5.0)
    source = tmp_path / "noisy.flac"  # lossless: MP3 would shift the samples
    source.write_bytes(encode_audio(noisy, SAMPLE_RATE, "flac"))
    out = tmp_path / "clean.flac"
    result = runner.invoke(app, ["enhance", str(source), "-o", str(out), "--model", "rnnoise"])
    assert result.exit_code == 0, result.output
    enhanced = decode_audio(out).samples
    assert enhanced.shape == clean.shape
    assert si_sdr_db(enhanced, clean) > si_sdr_db(noisy, clean) + 1.0


def test_unknown_model_fails_without_writing(tmp_path) -> None:
    out = tmp_path / "clean.wav"
    result = runner.invoke(app, ["enhance", str(SPEECH), "-o", str(out), "--model", "nonesuch"])
    assert result.exit_code != 0
    assert "nonesuch" in result.output
    assert not out.exists()
