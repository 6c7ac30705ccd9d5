"""The model manager: lazy loads, accounting, LRU/TTL unloads, leases, bounded executor."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.conftest import make_settings
from tympan.errors import ModelNotFound, Overloaded
from tympan.models import ModelManager, ModelRegistry, ModelSpec, path_size
from tympan.tasks.vad import SileroVad, silero_model_path

PATH = silero_model_path()
OTHER = PATH.with_name("silero_vad.onnx")


def _spec(model_id: str, path=PATH, loads: list | None = None) -> ModelSpec:
    def load() -> SileroVad:
        if loads is not None:
            loads.append(model_id)
        return SileroVad(path)

    return ModelSpec(model_id, "vad", "onnxruntime", str(path), load, size_bytes=path_size(path))


def test_loads_lazily_once_and_shares(tmp_path) -> None:
    loads: list[str] = []
    manager = ModelManager(ModelRegistry([_spec("a", loads=loads)]), make_settings(tmp_path))
    assert not manager.status("a").loaded and loads == []
    with manager.use("a") as first, manager.use("a") as second:
        assert first.handle is second.handle
    assert loads == ["a"]
    status = manager.status("a")
    assert status.loaded and status.memory_bytes >= PATH.stat().st_size
    manager.close()


def test_concurrent_first_use_loads_once(tmp_path) -> None:
    loads: list[str] = []
    manager = ModelManager(ModelRegistry([_spec("a", loads=loads)]), make_settings(tmp_path))
    threads = [threading.Thread(target=lambda: manager.use("a").__enter__()) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["a"]
    manager.close()


def test_lru_unload_within_budget_spares_models_in_use(tmp_path) -> None:
    registry = ModelRegistry([_spec("a"), _spec("b", OTHER)])
    manager = ModelManager(registry, make_settings(tmp_path, model_memory_budget_mb=1))
    with manager.use("a"):
        with manager.use("b"):
            assert manager.status("a").loaded and manager.status("b").loaded
        # "b" is released and over budget: it goes; "a" is still leased and stays.
        assert manager.status("a").loaded and not manager.status("b").loaded
    assert not manager.status("a").loaded
    manager.close()


def test_idle_ttl(tmp_path) -> None:
    manager = ModelManager(
        ModelRegistry([_spec("a")]), make_settings(tmp_path, model_idle_ttl_seconds=0.2)
    )
    with manager.use("a"):
        pass
    assert manager.evict() == [] and manager.status("a").loaded
    time.sleep(0.3)
    assert manager.evict() == ["a"] and not manager.status("a").loaded
    manager.close()


def test_unknown_and_wrong_task_models(tmp_path) -> None:
    manager = ModelManager(ModelRegistry([_spec("a")]), make_settings(tmp_path))
    with pytest.raises(ModelNotFound):
        manager.use("zzz").__enter__()
    with pytest.raises(ModelNotFound):
        manager.use("a", task="asr").__enter__()
    manager.close()


def test_executor_is_bounded(tmp_path) -> None:
    settings = make_settings(tmp_path, inference_threads=1, inference_queue_size=1)
    manager = ModelManager(ModelRegistry([]), settings)
    release = threading.Event()

    async def scenario() -> list[object]:
        running = asyncio.ensure_future(manager.run(release.wait, 10))
        queued = asyncio.ensure_future(manager.run(release.wait, 10))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded) as info:
            await manager.run(release.wait, 10)
        assert info.value.retry_after and info.value.status == 503
        release.set()
        return list(await asyncio.gather(running, queued))

    assert asyncio.run(scenario()) == [True, True]
    manager.close()


def test_inference_runs_off_the_event_loop(tmp_path, eval_dir) -> None:
    from tympan.audio import decode_audio

    manager = ModelManager(ModelRegistry([_spec("a")]), make_settings(tmp_path))
    audio = decode_audio(eval_dir / "bad_inputs" / "speech.ogg")

    async def scenario() -> tuple[str, int]:
        loop_thread = threading.current_thread().name

        def work(handle: SileroVad) -> tuple[str, int]:
            return threading.current_thread().name, len(handle.probabilities(audio))

        name, frames = await manager.infer("a", work)
        assert name != loop_thread
        return name, frames

    name, frames = asyncio.run(scenario())
    assert name.startswith("tympan-infer") and frames == 60
    manager.close()


def test_a_cancelled_request_keeps_its_slot_until_its_thread_ends(tmp_path) -> None:
    """A client that disconnects (the await is cancelled) cannot free a slot still working."""
    settings = make_settings(tmp_path, inference_threads=1, inference_queue_size=1)
    manager = ModelManager(ModelRegistry([]), settings)
    started, release = threading.Event(), threading.Event()

    def work() -> str:
        started.set()
        release.wait(10)
        return "done"

    async def scenario() -> str:
        request = asyncio.ensure_future(manager.run(work))
        while not started.is_set():
            await asyncio.sleep(0.01)
        request.cancel()  # what Starlette does when the client goes away
        with pytest.raises(asyncio.CancelledError):
            await request
        # The thread still runs: its slot is still taken, so one more fits (the queue), not two.
        queued = asyncio.ensure_future(manager.run(release.wait, 10))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded):
            await manager.run(lambda: "next")
        release.set()
        assert await queued
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                return await manager.run(lambda: "next")
            except Overloaded:
                await asyncio.sleep(0.01)
        raise AssertionError("the slot was never released")

    assert asyncio.run(scenario()) == "next"
    manager.close()


def test_a_request_cancelled_while_queued_frees_its_slot(tmp_path) -> None:
    settings = make_settings(tmp_path, inference_threads=1, inference_queue_size=1)
    manager = ModelManager(ModelRegistry([]), settings)
    release = threading.Event()

    async def scenario() -> bool:
        running = asyncio.ensure_future(manager.run(release.wait, 10))
        queued = asyncio.ensure_future(manager.run(release.wait, 10))
        await asyncio.sleep(0.05)
        queued.cancel()  # never started: its thread will not run, so its slot comes back
        await asyncio.sleep(0.05)
        third = asyncio.ensure_future(manager.run(lambda: True))
        await asyncio.sleep(0.05)
        release.set()
        return bool(await running) and await third

    assert asyncio.run(scenario())
    manager.close()
