"""``/v1/fine_tuning/jobs`` through the official ``openai`` client on a real server: a tiny
real fine-tuning of Whisper tiny.en on ``asr_adapt`` speakers, served by name at once; a
cancelled job publishes nothing; every bad input gets OpenAI's error body."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import openai
import pytest
from websockets.sync.client import connect
from wyoming.asr import Transcribe, Transcript
from wyoming.error import Error
from wyoming.info import Describe, Info

from tests.adapt_data import ADAPT, adapt_rows, dataset_zip
from tests.api.routers.test_asr import error_rate
from tests.api.test_wyoming import _free_port as free_port
from tests.api.test_wyoming import audio_events, exchange
from tests.conftest import make_settings
from tests.live_audio import silence, speech
from tests.live_server import serve_in_thread
from tympan.api.app import create_app
from tympan.config import Settings

API_KEY = "sk-tympan-ft"
ENDED = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The server's settings, with a Wyoming server too."""
    return make_settings(
        tmp_path_factory.mktemp("fine-tuning"),
        api_keys=API_KEY,
        wyoming_uri=f"tcp://127.0.0.1:{free_port()}",
    )


def _another(settings: Settings) -> Settings:
    """A second server's settings on the same data and database (no Wyoming)."""
    return settings.model_copy(update={"wyoming_uri": ""})


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[openai.OpenAI]:
    with serve_in_thread(settings) as url:
        yield _client(url)


@pytest.fixture(scope="module")
def other(settings: Settings) -> Iterator[openai.OpenAI]:
    """A second server on the same database, started before any model is published."""
    with serve_in_thread(_another(settings)) as url:
        yield _client(url)


@pytest.fixture(scope="module")
def files(client: openai.OpenAI) -> dict[str, str]:
    """Training (8 utterances of 2 speakers) and validation (2 of a third speaker) files."""
    rows = adapt_rows("train", 15, speakers=3)
    third = rows[2]["speaker"]
    train = dataset_zip([row for row in rows if row["speaker"] != third][:8])
    validation = dataset_zip([row for row in rows if row["speaker"] == third][:2], "jsonl")
    return {
        "training_file": client.files.create(file=("train.zip", train), purpose="fine-tune").id,
        "validation_file": client.files.create(
            file=("validation.zip", validation), purpose="fine-tune"
        ).id,
    }


def _wait(client: openai.OpenAI, job_id: str, until: tuple[str, ...] = ENDED, timeout=600.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while (job := client.fine_tuning.jobs.retrieve(job_id)).status not in until:
        assert time.monotonic() < deadline, f"{job_id} still {job.status}"
        time.sleep(0.5)
    return job


def test_fine_tune_then_transcribe_by_name(
    client: openai.OpenAI, files: dict[str, str], settings: Settings, other: openai.OpenAI
) -> None:
    job = client.fine_tuning.jobs.create(
        model="whisper-tiny.en",
        **files,
        suffix="acme",
        seed=7,
        hyperparameters={"n_epochs": 1, "batch_size": 2},
        extra_body={"max_steps": 4, "layers": "decoder"},
    )
    assert job.id.startswith("ftjob-") and job.object == "fine_tuning.job"
    assert job.status in ("queued", "validating_files", "running")
    assert (job.model, job.seed, job.fine_tuned_model) == ("whisper-tiny.en", 7, None)
    assert job.hyperparameters.n_epochs == 1 and job.hyperparameters.batch_size == 2
    done = _wait(client, job.id)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model and done.fine_tuned_model.startswith("ft:whisper-tiny.en:acme:")
    assert (
        done.finished_at is not None and done.finished_at >= done.created_at and done.error is None
    )

    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    metrics = [event for event in events if event.type == "metrics"]
    assert metrics and {"step", "train_loss", "valid_wer"} <= set(metrics[0].data)
    assert metrics[0].data["step"] >= 1 and events[0].object == "fine_tuning.job.event"
    messages = [event.message for event in events]
    assert any(done.fine_tuned_model in message for message in messages)
    page = client.fine_tuning.jobs.list_events(job.id, limit=2)
    older = client.fine_tuning.jobs.list_events(job.id, limit=2, after=page.data[-1].id)
    assert page.has_more and older.data[0].id != page.data[-1].id

    report = client.get(f"/fine_tuning/jobs/{job.id}/report", cast_to=object)
    assert isinstance(report, dict) and report
    assert done.fine_tuned_model in [model.id for model in client.models.list()]
    row = adapt_rows("test", 1)[0]
    with (ADAPT / row["audio"]).open("rb") as audio:
        text = client.audio.transcriptions.create(
            model=done.fine_tuned_model, file=audio, language="en"
        ).text
    assert error_rate(row["text"], text) < 0.5, text
    port = int(settings.wyoming_uri.rsplit(":", 1)[1])
    request = [Transcribe(name=done.fine_tuned_model, language="en").event()]
    request += audio_events(np.concatenate([speech(ADAPT / row["audio"]), silence(0.5)]), 16_000)
    answers = asyncio.run(exchange(port, request, until="transcript"))
    assert error_rate(row["text"], Transcript.from_event(answers[-1]).text) < 0.5
    with serve_in_thread(_another(settings)) as url:  # a later server registers it at start
        assert done.fine_tuned_model in [model.id for model in _client(url).models.list()]
    bare = done.fine_tuned_model.rsplit(":", 1)[0]  # the newest version answers to it
    (version,) = client.get(f"/fine_tuning/models/{bare}/versions", cast_to=object)
    assert (version["id"], version["stage"]) == (done.fine_tuned_model, "staging")
    promoted = client.post(
        f"/fine_tuning/models/{bare}/promote",
        body={"version": version["version"]},
        cast_to=object,
    )
    assert promoted["stage"] == "production"
    with pytest.raises(openai.ConflictError):
        client.post(f"/fine_tuning/models/{bare}/rollback", cast_to=object)
    with pytest.raises(openai.NotFoundError):
        client.post(f"/fine_tuning/models/{bare}/promote", body={"version": 99}, cast_to=object)
    assert client.models.retrieve(bare).id == done.fine_tuned_model
    assert other.models.retrieve(bare).id == done.fine_tuned_model
    assert other.models.retrieve(done.fine_tuned_model).id == done.fine_tuned_model
    assert job.id in [item.id for item in client.fine_tuning.jobs.list(limit=100)]
    with pytest.raises(openai.ConflictError) as finished:
        client.fine_tuning.jobs.cancel(job.id)
    assert "already ended" in finished.value.message


def test_cancelled_job_publishes_nothing(client: openai.OpenAI, files: dict[str, str]) -> None:
    before = {model.id for model in client.models.list()}
    job = client.fine_tuning.jobs.create(
        model="whisper-tiny.en",
        training_file=files["training_file"],
        validation_file=files["validation_file"],
        suffix="cancelled",
        hyperparameters={"n_epochs": 50, "batch_size": 2},
        extra_body={"layers": "decoder"},
    )
    _wait(client, job.id, until=("running", *ENDED))
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    time.sleep(3)  # the run notices within a second or so, and stops
    final = client.fine_tuning.jobs.retrieve(job.id)
    assert (final.status, final.fine_tuned_model) == ("cancelled", None)
    assert {model.id for model in client.models.list()} == before
    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    assert any("cancelled" in event.message for event in events)
    with pytest.raises(openai.ConflictError):
        client.fine_tuning.jobs.cancel(job.id)


def test_a_bad_manifest_fails_the_job_with_its_message(client: openai.OpenAI) -> None:
    rows = adapt_rows("train", 4)
    missing = [*rows, {**rows[0], "audio": "audio/nobody/missing.opus"}]
    data = dataset_zip(rows, listed=missing)
    stored = client.files.create(file=("bad.zip", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="whisper-tiny.en", training_file=stored.id)
    failed = _wait(client, job.id)
    assert failed.status == "failed" and failed.fine_tuned_model is None
    assert failed.error is not None and "missing.opus" in failed.error.message
    assert client.fine_tuning.jobs.list_events(job.id).data[0].level == "error"


@pytest.mark.parametrize(
    ("body", "error", "param"),
    [
        ({"model": "whisper-nonexistent"}, openai.NotFoundError, "model"),
        ({"model": "tts-1"}, openai.NotFoundError, "model"),
        ({"training_file": "file-000000000000000000000000"}, openai.NotFoundError,
         "training_file"),
        ({"validation_file": "file-000000000000000000000000"}, openai.NotFoundError,
         "validation_file"),
        ({"hyperparameters": {"n_epochs": 0}}, openai.BadRequestError, "hyperparameters.n_epochs"),
        ({"suffix": "no spaces allowed"}, openai.BadRequestError, "suffix"),
        ({"extra_body": {"training_method": "magic"}}, openai.BadRequestError, "training_method"),
        ({"extra_body": {"epochs": 3}}, openai.BadRequestError, "epochs"),
        ({"extra_body": {"augment": ["noise"]}}, openai.BadRequestError, "augment"),
        ({"extra_body": {"learning_rate": 1.0}}, openai.BadRequestError, "learning_rate"),
        ({"method": {"type": "dpo"}}, openai.BadRequestError, "method.type"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused(
    client: openai.OpenAI, files: dict[str, str], body: dict, error: type, param: str
) -> None:
    before = client.fine_tuning.jobs.list(limit=100).data
    request = {"model": "whisper-tiny.en", "training_file": files["training_file"], **body}
    with pytest.raises(error) as caught:
        client.fine_tuning.jobs.create(**request)
    assert caught.value.body["param"] == param
    assert caught.value.body["type"] == "invalid_request_error"
    assert client.fine_tuning.jobs.list(limit=100).data == before


def test_unknown_jobs_are_404(client: openai.OpenAI) -> None:
    unknown = "ftjob-000000000000000000000000"
    for call in (
        client.fine_tuning.jobs.retrieve,
        client.fine_tuning.jobs.cancel,
        client.fine_tuning.jobs.list_events,
    ):
        with pytest.raises(openai.NotFoundError):
            call(unknown)
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.list(after=unknown)
    with pytest.raises(openai.NotFoundError):
        client.get(f"/fine_tuning/jobs/{unknown}/report", cast_to=object)


def test_a_fine_tuned_model_is_private_to_its_namespace(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A model of namespace ``alpha`` (real tiny.en weights under a fine-tuned name) is
    unknown to ``beta``: not listed, no transcription, no live session, no fine-tuning from it;
    and to Wyoming, which serves the default namespace."""
    settings = make_settings(
        tmp_path_factory.mktemp("ns"),
        api_keys="sk-a@alpha,sk-b@beta",
        wyoming_uri=f"tcp://127.0.0.1:{free_port()}",
    )
    app = create_app(settings)
    with serve_in_thread(settings, app=app) as url:
        services = app.state.services
        tiny = services.registry.get("whisper-tiny.en")
        name = "ft:whisper-tiny.en:alpha:1"
        services.registry.add(
            replace(tiny, id=name, aliases=(), options={**tiny.options, "namespace": "alpha"})
        )
        alpha = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-a", max_retries=0)
        beta = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-b", max_retries=0)
        row = adapt_rows("test", 1)[0]
        clip = (ADAPT / row["audio"]).read_bytes()
        heard = alpha.audio.transcriptions.create(model=name, file=("a.opus", clip)).text
        assert error_rate(row["text"], heard) < 0.5
        assert name in [model.id for model in alpha.models.list()]
        assert name not in [model.id for model in beta.models.list()]
        for attempt in (
            lambda: beta.audio.transcriptions.create(model=name, file=("a.opus", clip)),
            lambda: beta.audio.translations.create(model=name, file=("a.opus", clip)),
            lambda: beta.models.retrieve(name),
            lambda: beta.fine_tuning.jobs.create(model=name, training_file="file-x"),
        ):
            with pytest.raises(openai.NotFoundError) as caught:
                attempt()
            assert caught.value.body["code"] == "model_not_found"
        live = f"{url.replace('http', 'ws')}/v1/realtime?intent=transcription&model={name}"
        headers = {"Authorization": "Bearer sk-b"}
        with connect(live, additional_headers=headers) as session:
            refusal = json.loads(session.recv(timeout=30))
        assert (refusal["type"], refusal["error"]["code"]) == ("error", "model_not_found")
        port = int(settings.wyoming_uri.rsplit(":", 1)[1])
        (info,) = asyncio.run(exchange(port, [Describe().event()], until="info"))
        listed = [model.name for model in Info.from_event(info).asr[0].models]
        assert "whisper-tiny.en" in listed and name not in listed
        request = [Transcribe(name=name, language="en").event()]
        request += audio_events(speech(ADAPT / row["audio"]), 16_000)
        answers = asyncio.run(exchange(port, [*request, Describe().event()], until="info"))
        errors = [Error.from_event(a) for a in answers if a.type == "error"]
        assert errors and errors[0].code == "model_not_found"
        assert not [a for a in answers if a.type == "transcript"]


def test_a_server_shutting_down_stops_its_job_as_interrupted(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Stopping the server stops a running fine-tuning within seconds (not after its epochs);
    the job is failed as ``interrupted`` (submit it again) and publishes nothing."""
    settings = make_settings(tmp_path_factory.mktemp("shutdown"), api_keys=API_KEY)
    with serve_in_thread(settings) as url:
        client = _client(url)
        data = dataset_zip(adapt_rows("train", 8))
        stored = client.files.create(file=("train.zip", data), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model="whisper-tiny.en",
            training_file=stored.id,
            hyperparameters={"n_epochs": 50, "batch_size": 2},
            extra_body={"layers": "decoder"},
        )
        _wait(client, job.id, until=("running", *ENDED))
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 60
    with serve_in_thread(settings) as url:
        client = _client(url)
        ended = client.fine_tuning.jobs.retrieve(job.id)
        assert (ended.status, ended.fine_tuned_model) == ("failed", None)
        assert ended.error is not None and ended.error.code == "interrupted"
        assert not [model for model in client.models.list() if model.id.startswith("ft:")]
