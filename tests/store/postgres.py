"""A throwaway PostgreSQL server for tests, if the machine has one (else those tests skip).

``initdb`` refuses to run as root, so as root the cluster belongs to ``nobody``. The server
listens only on a Unix socket in its temp folder; each test gets a fresh database.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy

__all__ = ["fresh_database", "postgres_server"]


def _server_tool(name: str) -> str | None:
    """``name`` from PATH, else from Debian's versioned folder (the package leaves it off PATH)."""
    found = shutil.which(name)
    if found is None:
        versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
        found = versions[0] if versions else None
    return found


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_server() -> Iterator[str | None]:
    """Yields a URL template (``{database}`` to fill), or None when PostgreSQL is missing."""
    initdb, pg_ctl = _server_tool("initdb"), _server_tool("pg_ctl")
    if initdb is None or pg_ctl is None:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="tympan-pg-"))  # reachable by its owner, unlike pytest's
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody", "nogroup")
    data = folder / "data"
    initialise = [initdb, "-D", str(data), "-A", "trust", "-U", "tympan"]
    subprocess.run(_as_owner(initialise), check=True, capture_output=True)
    options = f"-k {folder} -c listen_addresses='' -p 5432"
    start = [pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(folder / "log"), "start"]
    subprocess.run(_as_owner(start), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://tympan@/{{database}}?host={folder}&port=5432"
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(_as_owner(stop), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server: str) -> str:
    """Create an empty database on ``server``; its URL."""
    name = f"t{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(
        server.format(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server.format(database=name)
