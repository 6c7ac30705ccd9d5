"""The SDK's transport: connection, in-process service, error mapping, system and jobs.

Every capability's methods live in their own mixin module and build on ``BaseClient``'s
``request`` / ``post_audio``; ``tympan.client.Client`` combines them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Self

import httpx

from tympan.config import Settings
from tympan.errors import TympanError, error_for_status

__all__ = ["BaseClient", "FileInput"]

FileInput = str | os.PathLike[str] | bytes | BinaryIO
"""A path, raw bytes, or an open binary file."""


def _file_part(file: FileInput, default_name: str = "audio") -> tuple[str, Any]:
    if isinstance(file, bytes):
        return (default_name, file)
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        return (path.name, path.read_bytes())
    return (Path(getattr(file, "name", default_name)).name, file)


def _form(values: Mapping[str, Any]) -> dict[str, str]:
    """Form fields without the ``None`` ones, as strings."""
    return {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in values.items()
        if v is not None
    }


def _raise_for_status(response: httpx.Response) -> None:
    """Raise the matching ``TympanError`` when ``response`` (already read) is an error."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"error": {"message": response.text}}
    error = error_for_status(response.status_code, body)
    if "retry-after" in response.headers:
        error.retry_after = float(response.headers["retry-after"])
    raise error


class BaseClient:
    """A connection to a Tympan service (remote, or in-process with ``in_process``)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 600.0,
        http: httpx.Client | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._http.headers.update(headers)
        self._on_close: list[Any] = []

    @classmethod
    def in_process(cls, settings: Settings | None = None, api_key: str | None = None) -> Self:
        """A client over an app running in this process (started now, stopped by ``close``)."""
        from starlette.testclient import TestClient  # a synchronous ASGI transport

        from tympan.api.app import create_app

        settings = (settings or Settings()).model_copy(update={"host": "127.0.0.1"})  # binds none
        runner = TestClient(create_app(settings), raise_server_exceptions=False)
        runner.__enter__()
        client = cls(api_key=api_key, http=runner)
        client._on_close.append(lambda: runner.__exit__(None, None, None))
        return client

    def close(self) -> None:
        """Close the connection (and stop an in-process app)."""
        for closer in self._on_close:
            closer()
        self._on_close.clear()
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; raise the matching ``TympanError`` for any error status."""
        response = self._http.request(method, path, **kwargs)
        _raise_for_status(response)
        return response

    def post_audio(
        self, path: str, file: FileInput, fields: Mapping[str, Any], *, file_field: str = "file"
    ) -> httpx.Response:
        """POST a multipart form with one audio file and the non-``None`` fields."""
        return self.request("POST", path, files={file_field: _file_part(file)}, data=_form(fields))

    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[bytes]:
        """A streamed response body, chunk by chunk; an error status raises before any chunk."""
        with self._http.stream(method, path, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for_status(response)
            yield from response.iter_bytes()

    # -- system ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /healthz``."""
        return self.request("GET", "/healthz").json()

    def models(self, task: str | None = None) -> list[dict[str, Any]]:
        """Every model the service can serve (``GET /v1/models``)."""
        params = {"task": task} if task else None
        return self.request("GET", "/v1/models", params=params).json()["data"]

    def load_model(self, model_id: str) -> dict[str, Any]:
        """Load a model now (``POST /v1/models/{id}/load``); returns its card."""
        return self.request("POST", f"/v1/models/{model_id}/load").json()

    def unload_model(self, model_id: str) -> dict[str, Any]:
        """Free a model's memory now (``POST /v1/models/{id}/unload``); returns its card."""
        return self.request("POST", f"/v1/models/{model_id}/unload").json()

    def model_drift(self, model_id: str) -> dict[str, Any]:
        """How well an ASR model decoded its recent audio, per language (``GET
        /v1/models/{id}/drift``)."""
        return self.request("GET", f"/v1/models/{model_id}/drift").json()

    # -- jobs -----------------------------------------------------------------------------

    def jobs(
        self, *, kind: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Recent background jobs, newest first (``GET /v1/jobs``)."""
        params = {"kind": kind, "status": status, "limit": limit}
        params = {name: value for name, value in params.items() if value is not None}
        return self.request("GET", "/v1/jobs", params=params).json()["data"]

    def job(self, job_id: str) -> dict[str, Any]:
        """A background job's state (``GET /v1/jobs/{id}``)."""
        return self.request("GET", f"/v1/jobs/{job_id}").json()

    def wait_job(
        self, job_id: str, *, timeout: float = 3600.0, poll: float = 0.5, on_progress: Any = None
    ) -> dict[str, Any]:
        """Poll a job until it ends; ``on_progress(fraction, message)`` sees each update.

        Raises the job's error as a ``TympanError`` when it fails.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_progress is not None:
                on_progress(job["progress"], job["message"])
            if job["status"] == "succeeded":
                return job
            if job["status"] == "failed":
                error = job.get("error") or {}
                raise error_for_status(error.get("status", 500), {"error": error})
            if time.monotonic() > deadline:
                raise TympanError(f"Job {job_id} did not finish within {timeout:g} s.")
            time.sleep(poll)
