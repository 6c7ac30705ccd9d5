"""``tympan music generate`` and ``tympan music train``, in-process on the trained data dir."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pretty_midi
import pytest
from typer.testing import CliRunner

from tests.tasks.music.conftest import TINY
from tests.tasks.music.test_render import decode
from tympan.cli import app
from tympan.client import Client
from tympan.config import Settings


@pytest.fixture()
def cli(music_settings: Settings, music_api: Client, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(music_settings.data_dir))
    for name, value in TINY.items():
        monkeypatch.setenv(f"TYMPAN_{name.upper()}", str(value))
    return CliRunner()


def test_generate_midi_then_audio_from_it(cli: CliRunner, motif_midi: Path, tmp_path: Path):
    out = tmp_path / "out.mid"
    result = cli.invoke(app, ["music", "generate", "--prompt", str(motif_midi), "--bars", "4",
                              "-o", str(out), "--seed", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    motif = pretty_midi.PrettyMIDI(str(motif_midi)).instruments[0].notes
    notes = pretty_midi.PrettyMIDI(io.BytesIO(out.read_bytes())).instruments[0].notes
    assert [n.pitch for n in notes[: len(motif)]] == [n.pitch for n in motif]
    assert len(notes) > len(motif)
    wav = tmp_path / "out.wav"
    result = cli.invoke(app, ["music", "generate", "--prompt", str(out), "--bars", "1",
                              "-o", str(wav)])  # fmt: skip
    assert result.exit_code == 0, result.output
    samples, rate = decode(wav.read_bytes())
    assert len(samples) / rate > max(n.end for n in notes)


def test_generate_json_from_abc(cli: CliRunner, tmp_path: Path):
    from tests.tasks.music.test_midi_io import ABC_TUNE

    tune = tmp_path / "tune.abc"
    tune.write_text(ABC_TUNE)
    out = tmp_path / "out.json"
    args = ["music", "generate", "--prompt", str(tune), "--bars", "2", "-o", str(out),
            "--model", "folk-markov", "--stay-in-key"]  # fmt: skip
    assert cli.invoke(app, args).exit_code == 0
    piece = json.loads(out.read_text())
    assert piece["prompt_notes"] == 32 and piece["in_key"] >= 0.9


def test_bad_output_extension_and_bad_prompt(cli: CliRunner, tmp_path: Path):
    result = cli.invoke(app, ["music", "generate", "-o", str(tmp_path / "x.ogg")])
    assert result.exit_code != 0
    bogus = tmp_path / "bogus.mid"
    bogus.write_text("not midi")
    result = cli.invoke(app, ["music", "generate", "--prompt", str(bogus), "-o",
                              str(tmp_path / "x.mid")])  # fmt: skip
    assert result.exit_code == 1 and "invalid_midi" in result.output


def test_train(cli: CliRunner):
    result = cli.invoke(app, ["music", "train", "--model", "folk-markov", "--max-seconds", "5"])
    assert result.exit_code == 0, result.output
    assert "folk-markov: test perplexity" in result.output


def test_generate_on_a_fresh_install_waits_for_the_first_model(
    cli: CliRunner, music_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The 409 names the training job; the CLI follows it and generates once a model is saved."""
    import shutil

    (tmp_path / "models" / "music").mkdir(parents=True)
    for cache in (music_settings.models_dir / "music").glob("corpus-folk-*.json"):
        shutil.copy(cache, tmp_path / "models" / "music" / cache.name)  # parsed once already
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TYMPAN_MUSIC_FIRST_PIECES", "10")
    out = tmp_path / "out.json"
    args = ["music", "generate", "--bars", "2", "--seed", "3", "-o", str(out),
            "--model", "folk-markov"]  # fmt: skip
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "not trained yet" in result.output and "job_" in result.output
    assert json.loads(out.read_text())["notes"]
