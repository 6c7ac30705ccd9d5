"""Two Ray nodes, started as docs/scaling.md's two-machine recipe starts them: ``ray start
--head`` and ``ray start --address`` (both on this machine, on loopback, with token
authentication on), and one Tympan front joining them with ``TYMPAN_RAY_ADDRESS=host:port``.

What a second machine adds is a second node: a replica on it must answer like the one beside
the front, and the front must keep answering when that machine goes away while requests run.
The head has a CPU more than the worker so that it has room for every replica the worker
held, as docs/scaling.md advises; where the survivors have no room, requests get a 503 after
TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS (tested in test_ray.py). (Ray's CLI turns 127.0.0.1 into
this machine's own address; the traffic still stays on the machine.)
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from tests.conftest import EVAL_DIR, wait_until  # noqa: E402
from tympan.client import Client  # noqa: E402

pytestmark = pytest.mark.timeout(360)

CLIPS = [EVAL_DIR / "asr_ljspeech" / f"LJ001-000{n}.flac" for n in (1, 2, 3, 4)]
MODEL = "whisper-tiny.en"
_RAY = Path(sys.executable).with_name("ray")
_TYMPAN = Path(sys.executable).with_name("tympan")
_START_TIMEOUT = 60.0


class Node:
    """One ``ray start --block`` node in its own process group."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [str(_RAY), "start", "--block", "--disable-usage-stats", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def started(self) -> bool:
        """Whether the node has registered with the head (``ray start`` says so)."""
        if self.process.poll() is not None:
            raise RuntimeError(f"ray start ended: {self.log.read_text(errors='replace')}")
        return "Ray runtime started" in self.log.read_text(errors="replace")

    def kill(self) -> None:
        """Every process of the node at once, as when its machine loses power (a clean
        ``ray stop`` of a node that hosted Serve replicas takes 30 s)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A head (3 CPUs) and a worker node (2 CPUs) on 127.0.0.1, sharing a token; this process
    and every process joining them get the token's path. Yields the address, that
    environment and the worker."""
    folder = tmp_path_factory.mktemp("cluster")
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # Its own temp dir (short: Ray's socket paths have a length limit), so no later
    # ``ray.init()`` of this machine finds this cluster's address file in /tmp/ray.
    scratch = tempfile.mkdtemp(prefix="tympan-ray-")
    each_node = ["--node-ip-address", "127.0.0.1", "--temp-dir", scratch]
    head = Node(
        [
            "--head",
            "--port",
            str(port),
            "--num-cpus",
            "3",
            "--include-dashboard",
            "false",
            *each_node,
        ],
        env,
        folder / "head.log",
    )
    worker = None
    try:
        wait_until(lambda: _listening(port), "the head's GCS", _START_TIMEOUT)
        worker = Node(
            ["--address", address, "--num-cpus", "2", *each_node], env, folder / "worker.log"
        )
        wait_until(worker.started, "the worker node to join", _START_TIMEOUT)
        yield {"address": address, "env": env, "worker": worker}
    finally:
        for node in (worker, head):
            if node is not None:
                node.kill()
        shutil.rmtree(scratch, ignore_errors=True)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


_REPLICA_NODES = """
from ray import serve

def node_of(_model):
    time.sleep(1.0)  # long enough that the calls overlap, so each replica takes some
    return ray.get_runtime_context().get_node_id()

model = serve.get_app_handle(sys.argv[2])
calls = [model.infer.remote(node_of, (), {}) for _ in range(4)]
print(len({call.result() for call in calls}))
"""


def _ask(cluster: dict, script: str, *args: str) -> int:
    """What ``script`` prints, run as a driver of the cluster in its own process (the
    token's environment is read when Ray starts in a process)."""
    joined = "import sys, time\nimport ray\nray.init(address=sys.argv[1], log_to_driver=False)\n"
    found = subprocess.run(
        [sys.executable, "-c", joined + script, cluster["address"], *args],
        env=cluster["env"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return int(found.stdout.strip().splitlines()[-1])


@pytest.fixture
def front(cluster: dict, tmp_path: Path) -> Iterator[str]:
    """``tympan serve --ray ADDRESS`` in its own process, with two ASR replicas; its URL."""
    port = _free_port()
    env = {
        **cluster["env"],
        "TYMPAN_DATA_DIR": str(tmp_path / "data"),
        "TYMPAN_RAY_ASR_REPLICAS": "2",
        "TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS": "60",  # a replica that cannot be placed: a 503
    }
    log = (tmp_path / "front.log").open("wb")
    process = subprocess.Popen(
        [str(_TYMPAN), "serve", "--ray", cluster["address"], "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _listening(port) or process.poll() is not None, "the front", _START_TIMEOUT
        )
        assert process.poll() is None, (tmp_path / "front.log").read_text()
        yield url
    finally:
        # Killed, not stopped: its applications go with the cluster (a clean stop is
        # tested in test_ray.py).
        process.kill()
        process.wait(timeout=60)
        log.close()


def test_replicas_on_two_nodes_answer_alike_and_survive_losing_one(
    cluster: dict, front: str
) -> None:
    with Client(front, timeout=120) as client:

        def transcribe(clip: Path) -> str:
            return client.transcribe(clip, model=MODEL).text

        expected = {clip: transcribe(clip) for clip in CLIPS}
        assert "Printing, in the only sense" in expected[CLIPS[0]]
        assert _ask(cluster, _REPLICA_NODES, f"tympan-asr-{MODEL}") == 2  # a replica on each
        requests = CLIPS * 2
        with ThreadPoolExecutor(len(requests)) as pool:
            texts = list(pool.map(transcribe, requests))
        assert texts == [expected[clip] for clip in requests]  # both replicas answer alike

        # The worker machine goes away while 4 clients transcribe back to back: every request
        # is answered, and correctly (calls its replicas held run again on the head).
        until = time.monotonic() + 12.0

        def keep_transcribing(clip: Path) -> int:
            answered = 0
            while time.monotonic() < until:
                assert transcribe(clip) == expected[clip]
                answered += 1
            return answered

        with ThreadPoolExecutor(len(CLIPS)) as pool:
            running = [pool.submit(keep_transcribing, clip) for clip in CLIPS]
            time.sleep(2.0)
            cluster["worker"].kill()
            answered = [future.result() for future in running]
        assert min(answered) >= 1, answered
