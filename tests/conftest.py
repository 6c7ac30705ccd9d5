"""Shared fixtures: the real evaluation data, an in-process service, its services."""

from __future__ import annotations

import contextlib
import csv
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tympan.api.services import Services
from tympan.client import Client
from tympan.config import Settings

EVAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
TEST_MAX_AUDIO_SECONDS = 1200.0  # under silence_3h.flac's 3 h, over every real clip


_postgres = contextlib.ExitStack()  # the session's PostgreSQL server under --database postgresql
_postgres_server: str | None = None
_postgres_databases: dict[Path, str] = {}  # data dir -> its database, so a restart reopens it


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="database behind every test service (postgresql: a throwaway local server)",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _postgres_server
    if not EVAL_DIR.is_dir():
        raise pytest.UsageError(f"evaluation data not found at {EVAL_DIR}")
    if config.getoption("--database", "sqlite") == "postgresql":
        from tests.store.postgres import postgres_server

        _postgres_server = _postgres.enter_context(postgres_server())
        if _postgres_server is None:
            raise pytest.UsageError("--database postgresql: initdb/pg_ctl are not installed")


def pytest_unconfigure(config: pytest.Config) -> None:
    _postgres.close()


def _database_url_for(data_dir: Path) -> str | None:
    """Under ``--database postgresql`` one fresh PostgreSQL database per data dir, else None."""
    if _postgres_server is None:
        return None
    if data_dir not in _postgres_databases:
        from tests.store.postgres import fresh_database

        _postgres_databases[data_dir] = fresh_database(_postgres_server)
    return _postgres_databases[data_dir]


def read_manifest(folder: str) -> list[dict[str, str]]:
    """Rows of ``../shared/eval/<folder>/manifest.csv``."""
    with (EVAL_DIR / folder / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    return EVAL_DIR


def wait_until(condition: Callable[[], bool], what: str, seconds: float) -> None:
    """Poll ``condition`` twice a second; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.5)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test service: its own data dir (and database), test limits, no env file."""
    values = {
        "data_dir": data_dir,
        "database_url": _database_url_for(Path(data_dir)),
        "max_audio_seconds": TEST_MAX_AUDIO_SECONDS,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type,call-arg]


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """One in-process service for the session, used through the SDK."""
    with Client.in_process(make_settings(tmp_path_factory.mktemp("tympan"))) as client:
        yield client


def services_of(client: Client) -> Services:
    """The ``Services`` behind an in-process client."""
    return client._http.app.state.services  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def services(api: Client) -> Services:
    return services_of(api)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, for remote clients (openai, CLI)."""
    from tests.live_server import serve_in_thread

    with serve_in_thread(make_settings(tmp_path_factory.mktemp("live"))) as url:
        yield url
