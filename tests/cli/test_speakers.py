"""``tympan speakers ...`` and ``tympan diarize``, in-process, against their own data folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TEST_MAX_AUDIO_SECONDS
from tests.speaker_data import DIARIZATION_DIR, utterances
from tympan.cli import app

VOICES = utterances()
A, B = VOICES["1688"], VOICES["3005"]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TYMPAN_MAX_AUDIO_SECONDS", str(TEST_MAX_AUDIO_SECONDS))
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    return invoke


def test_enroll_list_verify_identify_remove(run) -> None:
    created = json.loads(
        run(
            "speakers",
            "enroll",
            "Cli Person",
            str(A[0]),
            str(A[1]),
            "--metadata",
            '{"role": "host"}',
        )
    )
    assert created["num_samples"] == 2 and created["metadata"] == {"role": "host"}
    listed = json.loads(run("speakers", "list"))
    assert [s["id"] for s in listed] == [created["id"]]
    verdict = json.loads(run("speakers", "verify", str(A[2]), "--speaker", created["id"]))
    assert verdict["same_speaker"] is True
    pair = json.loads(run("speakers", "verify", str(A[2]), "--against", str(B[0])))
    assert pair["same_speaker"] is False
    found = json.loads(run("speakers", "identify", str(A[3])))
    assert found["speaker"]["speaker_id"] == created["id"]
    nobody = json.loads(run("speakers", "identify", str(B[1])))
    assert nobody["speaker"] is None
    assert "removed" in run("speakers", "remove", created["id"])
    assert json.loads(run("speakers", "list")) == []


def test_errors_exit_non_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TYMPAN_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["speakers", "remove", "spk_nobody"])
    assert result.exit_code == 1 and "404" in result.output


def test_diarize_rttm_and_json(run, tmp_path: Path) -> None:
    rttm = run("diarize", str(DIARIZATION_DIR / "sample.wav"), "--format", "rttm")
    assert {line.split()[7] for line in rttm.splitlines()} == {"SPEAKER_00", "SPEAKER_01"}
    out = tmp_path / "turns.json"
    run("diarize", str(DIARIZATION_DIR / "sample.wav"), "--num-speakers", "2", "--out", str(out))
    assert json.loads(out.read_text())["num_speakers"] == 2


def test_train_overlap_prints_its_report(
    run, monkeypatch: pytest.MonkeyPatch, eval_dir: Path
) -> None:
    monkeypatch.setenv("TYMPAN_DATASET_ROOTS", str(eval_dir))
    report = json.loads(run("train-overlap", str(eval_dir / "speakers"), "--steps", "2"))
    assert report["steps"] == 2 and report["train_speakers"] == 8
    assert 0.0 <= report["validation_auc"] <= 1.0
