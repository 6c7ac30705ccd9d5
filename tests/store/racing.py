"""Run racer processes (``tests/store/racer.py``) together on one database, bounded in time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def race(mode: str, url: str, root: Path, tags: list[str], rounds: int) -> None:
    """Start one racer per tag, release them together, and fail if any of them fails."""
    start = root / "start"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.store.racer",
                mode,
                url,
                str(root),
                str(start),
                str(rounds),
                tag,
            ],
            cwd=REPO,
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in tags
    ]
    deadline = time.monotonic() + 180  # imports take a while on a loaded machine
    while len(list(root.glob("ready-*"))) < len(tags):
        dead = [racer for racer in racers if racer.poll() is not None]
        assert not dead, "a racer died: " + dead[0].communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the racers did not start"
        time.sleep(0.05)
    start.touch()
    errors = []
    for racer in racers:
        _, stderr = racer.communicate(timeout=240)
        if racer.returncode:
            errors.append(stderr[-3000:])
    assert not errors, "\n".join(errors)
