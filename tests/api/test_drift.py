"""Drift of what Tympan serves, on real audio: a classifier version's recent clips against its
validation clips, an ASR model's recent windows by Whisper's own checks; through the API, the
SDK and ``/metrics``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.api.routers.test_asr import LJ, LJ_ROWS
from tests.api.test_classifiers import FSDD, SPEAKERS, _subset, _train
from tests.api.test_metrics import scrape, value
from tests.conftest import EVAL_DIR, make_settings, read_manifest
from tympan.audio import decode_audio
from tympan.client import Client
from tympan.errors import InvalidParameter, ModelNotFound
from tympan.tasks.enhancement.snr import mix_at_snr

NAME = "drifty"
MIN_SAMPLES, WINDOW = 12, 36
NOISE = EVAL_DIR / "noise" / "audio" / "blanket__coffee-shop.opus"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    settings = make_settings(
        tmp_path_factory.mktemp("drift"), drift_min_samples=MIN_SAMPLES, drift_window=WINDOW
    )
    with Client.in_process(settings) as client:
        yield client


@pytest.fixture(scope="module")
def digits(client: Client, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A classifier of three digits trained on clips 0-7 of three FSDD speakers."""
    _train(client, NAME, _subset(tmp_path_factory.mktemp("digits")), max_epochs=25)
    return NAME


def _held_out() -> list[Path]:
    """Clips 8-19 of the training digits and speakers: the same voices, clips never seen."""
    return [
        FSDD / row["audio"]
        for row in read_manifest("fsdd")
        if row["label"] in ("0", "1", "2")
        and row["speaker"] in SPEAKERS
        and 8 <= int(Path(row["audio"]).stem.rsplit("_", 1)[1]) < 20
    ]


def _in_cafe_noise(path: Path, rng: np.random.Generator, snr_db: float = 0.0) -> bytes:
    """``path`` mixed with real café babble at ``snr_db``, as WAV."""
    noise = decode_audio(NOISE).samples
    mixture, _ = mix_at_snr(decode_audio(path).samples, noise, snr_db, rng)
    buffer = io.BytesIO()
    soundfile.write(buffer, mixture, 16_000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _statistics(report: dict) -> dict[str, dict]:
    return {shift["statistic"]: shift for shift in report["statistics"]}


def test_clean_clips_keep_a_version_steady_and_noisy_ones_drift(client: Client, digits) -> None:
    before = client.classifier_drift(digits)
    assert before["recent"] == 0 and not before["drifting"] and not before["statistics"]
    assert f"{MIN_SAMPLES} more predictions" in before["advice"]

    clean = [Path(p) for p in np.random.default_rng(1).permutation(_held_out())]  # classes mixed
    for path in clean[:24]:
        client.predict(digits, path)
    steady = client.classifier_drift(digits)
    assert steady["model"] == f"{digits}:1" and steady["recent"] == 24
    assert set(_statistics(steady)) == {
        "confidence", "label", "duration", "loudness", "snr", "novelty",
    }  # fmt: skip
    assert not steady["drifting"], steady["statistics"]
    assert _statistics(steady)["label"]["distance"] < 0.3

    rng = np.random.default_rng(0)
    for path in clean[:WINDOW]:
        client.predict(digits, _in_cafe_noise(path, rng))
    noisy = client.classifier_drift(digits, version=1)
    shifts = _statistics(noisy)
    assert noisy["recent"] == WINDOW and noisy["drifting"], noisy
    assert (
        shifts["snr"]["drifting"]
        and shifts["snr"]["recent_median"] < shifts["snr"]["reference_median"]
    )
    assert f"/v1/classifiers/{digits}/examples" in noisy["advice"]

    scraped = scrape(client)
    assert value(scraped, "tympan_drifting", model=f"{digits}:1", language="") == 1
    distance = value(
        scraped, "tympan_classifier_drift_distance", model=f"{digits}:1", statistic="snr"
    )
    assert distance == shifts["snr"]["distance"]


def test_a_version_from_new_examples_keeps_its_parents_reference(client: Client, digits) -> None:
    fresh = [FSDD / row["audio"] for row in read_manifest("fsdd") if row["label"] == "2"][-5:]
    added = client.add_examples(digits, "2", fresh)
    report = client.classifier_drift(digits, version=added.version)
    assert report["model"] == added.ref and "no drift reference" not in report["advice"]


def test_asr_windows_are_judged_per_model_and_language(client: Client) -> None:
    for row in LJ_ROWS[:3]:
        client.transcribe(LJ / row["audio"])
    german = next(row for row in read_manifest("multilingual") if row["language"] == "de")
    client.transcribe(EVAL_DIR / "multilingual" / german["audio"], model="whisper-base")

    english = client.model_drift("tiny.en")
    assert english["model"] == "whisper-tiny.en" and not english["drifting"]
    (quality,) = english["languages"]
    assert quality["language"] == "en" and quality["recent"] == 3
    assert quality["avg_logprob"] > -1 and quality["failing_share"] == 0
    assert not quality["drifting"]  # 3 windows are under MIN_SAMPLES whatever they say
    (base,) = client.model_drift("whisper-base")["languages"]
    assert base["language"] == "de" and base["recent"] == 1

    scraped = scrape(client)
    labels = {"model": "whisper-tiny.en", "language": "en"}
    assert value(scraped, "tympan_drift_recent_inputs", **labels) == 3
    logprob = value(scraped, "tympan_asr_recent_quality", statistic="avg_logprob", **labels)
    assert logprob == quality["avg_logprob"]


def test_asr_drift_is_refused_for_other_models(client: Client) -> None:
    with pytest.raises(InvalidParameter) as wrong:
        client.model_drift("silero-vad")
    assert "/v1/classifiers/" in wrong.value.message
    with pytest.raises(ModelNotFound):
        client.model_drift("no-such-model")
