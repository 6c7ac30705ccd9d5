"""``tympan train / predict / detect / classifiers ...`` in-process, on real spoken digits."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tympan.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TYMPAN_SERVER", raising=False)


def _folders(root, eval_dir) -> None:
    for digit in ("1", "5"):
        (root / digit).mkdir(parents=True)
        for speaker in ("jackson", "theo"):
            for index in range(6):
                name = f"{digit}_{speaker}_{index}.flac"
                (root / digit / name).write_bytes((eval_dir / "fsdd" / "audio" / name).read_bytes())


def test_train_predict_report_examples(tmp_path, eval_dir) -> None:
    data = tmp_path / "digits"
    _folders(data, eval_dir)
    trained = runner.invoke(app, ["train", str(data), "--name", "kws", "--max-epochs", "10"])
    assert trained.exit_code == 0, trained.output
    result = json.loads(trained.stdout)
    # a folder names no speakers: the two voices are estimated and one is held out
    assert result["ref"] == "kws:1" and result["metrics"]["split"] == "estimated-speaker-disjoint"
    clip = str(eval_dir / "fsdd" / "audio" / "5_george_0.flac")
    predicted = runner.invoke(app, ["predict", "kws", clip, "--top-k", "1"])
    assert predicted.exit_code == 0, predicted.output
    line = json.loads(predicted.stdout.splitlines()[0])
    assert line["label"] in ("1", "5") and len(line["top"]) == 1
    out = tmp_path / "report"
    reported = runner.invoke(app, ["classifiers", "report", "kws", "--out", str(out)])
    assert reported.exit_code == 0, reported.output
    assert (out / "confusion.png").read_bytes().startswith(b"\x89PNG")
    assert "accuracy" in (out / "report.md").read_text()
    new = [str(eval_dir / "fsdd" / "audio" / f"9_theo_{i}.flac") for i in range(5)]
    added = runner.invoke(app, ["classifiers", "examples", "kws", "9", *new])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["labels"] == ["1", "5", "9"]
    promoted = runner.invoke(app, ["classifiers", "promote", "kws", "2"])
    assert promoted.exit_code == 0 and json.loads(promoted.stdout)["stage"] == "production"
    listed = runner.invoke(app, ["classifiers", "list"])
    assert "kws:2" in listed.stdout


def test_bad_dataset_exits_with_the_report(tmp_path, eval_dir) -> None:
    (tmp_path / "only" / "1").mkdir(parents=True)
    source = eval_dir / "fsdd" / "audio" / "1_theo_0.flac"
    (tmp_path / "only" / "1" / source.name).write_bytes(source.read_bytes())
    result = runner.invoke(app, ["train", str(tmp_path / "only"), "--name", "x"])
    assert result.exit_code == 1
    assert "only one class" in result.output


def test_a_bad_training_option_exits_1_naming_it(tmp_path, eval_dir) -> None:
    _folders(tmp_path / "kws", eval_dir)
    result = runner.invoke(app, ["train", str(tmp_path / "kws"), "--name", "x", "--mixup", "3"])
    assert result.exit_code == 1 and "mixup" in result.output, result.output


def test_predict_unknown_classifier_exits_1(eval_dir) -> None:
    clip = str(eval_dir / "fsdd" / "audio" / "5_george_0.flac")
    result = runner.invoke(app, ["predict", "ghost", clip])
    assert result.exit_code == 1 and "404" in result.output


def test_train_multimodal_and_predict_shows_the_transcript(tmp_path, eval_dir) -> None:
    clips = eval_dir / "emotion" / "audio"
    for sentence, statement in (("kids", "01-01"), ("dogs", "02-02")):
        (tmp_path / "said" / sentence).mkdir(parents=True)
        for actor in ("01", "02", "03"):
            name = f"03-01-05-{statement}-01-{actor}.flac"
            (tmp_path / "said" / sentence / name).write_bytes((clips / name).read_bytes())
    options = [
        "--name",
        "said",
        "--arch",
        "multimodal",
        "--max-epochs",
        "5",
        "--augment-copies",
        "0",
    ]
    trained = runner.invoke(app, ["train", str(tmp_path / "said"), *options])
    assert trained.exit_code == 0, trained.output
    metrics = json.loads(trained.stdout)["metrics"]
    assert "audio_only_accuracy" in metrics and "text_only_accuracy" in metrics
    predicted = runner.invoke(app, ["predict", "said", str(clips / "03-01-05-02-02-01-09.flac")])
    assert predicted.exit_code == 0, predicted.output
    line = json.loads(predicted.stdout)
    assert "door" in line["transcript"].lower() and line["label"] in ("kids", "dogs")
