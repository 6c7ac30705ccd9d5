"""The Tympan SDK: typed methods over the HTTP API, with errors raised as Tympan's own.

    with Client("http://127.0.0.1:8000") as tympan:
        result = tympan.vad("meeting.wav")

``Client.in_process()`` runs the same API inside this process (no server, no port), which is
how the CLI works without ``--server`` and how the tests exercise the service end to end.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import numpy as np

from tympan.audio.features import FeatureKind, Features
from tympan.config import SAMPLE_RATE, Settings
from tympan.errors import TympanError, error_for_status
from tympan.tasks.classifiers import (
    Detection,
    DetectionResult,
    ExamplesResult,
    LabelScore,
    Prediction,
)
from tympan.tasks.vad import SpeechSegment, VadMethod, VadResult

__all__ = ["Client", "FileInput"]

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


class Client:
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
    def in_process(cls, settings: Settings | None = None, api_key: str | None = None) -> Client:
        """A client over an app running in this process (started now, stopped by ``close``)."""
        from starlette.testclient import TestClient  # a synchronous ASGI transport

        from tympan.api.app import create_app

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

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; raise the matching ``TympanError`` for any error status."""
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": {"message": response.text}}
            error = error_for_status(response.status_code, body)
            if "retry-after" in response.headers:
                error.retry_after = float(response.headers["retry-after"])
            raise error
        return response

    def post_audio(
        self, path: str, file: FileInput, fields: Mapping[str, Any], *, file_field: str = "file"
    ) -> httpx.Response:
        """POST a multipart form with one audio file and the non-``None`` fields."""
        return self.request("POST", path, files={file_field: _file_part(file)}, data=_form(fields))

    # -- system ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /healthz``."""
        return self.request("GET", "/healthz").json()

    def models(self, task: str | None = None) -> list[dict[str, Any]]:
        """Every model the service can serve (``GET /v1/models``)."""
        params = {"task": task} if task else None
        return self.request("GET", "/v1/models", params=params).json()["data"]

    # -- features and VAD -----------------------------------------------------------------

    def features(
        self,
        file: FileInput,
        kind: FeatureKind = "log_mel",
        *,
        n_fft: int | None = None,
        hop_length: int | None = None,
        n_mels: int | None = None,
        n_mfcc: int | None = None,
        fmin: float | None = None,
        fmax: float | None = None,
        deltas: int | None = None,
    ) -> Features:
        """Frame features of ``file`` as a ``Features`` record (values: frames x dims)."""
        fields = {
            "kind": kind,
            "n_fft": n_fft,
            "hop_length": hop_length,
            "n_mels": n_mels,
            "n_mfcc": n_mfcc,
            "fmin": fmin,
            "fmax": fmax,
            "deltas": deltas,
            "format": "npy",
        }
        response = self.post_audio("/v1/audio/features", file, fields)
        values = np.load(io.BytesIO(response.content), allow_pickle=False)
        return Features(kind, values, SAMPLE_RATE, hop_length or 160, deltas or 0)

    def vad(
        self,
        file: FileInput,
        method: VadMethod | None = None,
        *,
        threshold: float | None = None,
        neg_threshold: float | None = None,
        min_speech_ms: int | None = None,
        min_silence_ms: int | None = None,
        speech_pad_ms: int | None = None,
    ) -> VadResult:
        """Speech segments of ``file``."""
        fields = {
            "method": method,
            "threshold": threshold,
            "neg_threshold": neg_threshold,
            "min_speech_ms": min_speech_ms,
            "min_silence_ms": min_silence_ms,
            "speech_pad_ms": speech_pad_ms,
        }
        body = self.post_audio("/v1/audio/vad", file, fields).json()
        segments = [SpeechSegment(**segment) for segment in body.pop("segments")]
        return VadResult(segments=segments, **body)

    # -- classifiers ----------------------------------------------------------------------

    def train_classifier(
        self,
        name: str,
        data: str | os.PathLike[str] | bytes,
        *,
        arch: str = "transfer",
        server_path: bool = False,
        **options: Any,
    ) -> dict[str, Any]:
        """Start training ``name`` on a dataset; returns the job (see ``wait_job``).

        ``data`` is a folder per class, a manifest CSV, a zip (path or bytes). Folders and
        manifests are zipped and uploaded, unless ``server_path`` says the server can read
        ``data`` itself. ``options`` are ``TrainConfig`` fields (max_epochs, quantize, ...).
        """
        from tympan.tasks.classifiers.dataset import zip_dataset

        fields = _form({"name": name, "arch": arch, **options})
        if server_path:
            fields["path"] = str(Path(data).resolve())  # type: ignore[arg-type]
            return self.request("POST", "/v1/classifiers", data=fields).json()
        if isinstance(data, bytes):
            payload = data
        elif Path(data).suffix.lower() == ".zip":
            payload = Path(data).read_bytes()
        else:
            payload = zip_dataset(Path(data))
        files = {"dataset": ("dataset.zip", payload, "application/zip")}
        return self.request("POST", "/v1/classifiers", data=fields, files=files).json()

    def classifiers(self) -> list[dict[str, Any]]:
        """Every classifier and its served version (``GET /v1/classifiers``)."""
        return self.request("GET", "/v1/classifiers").json()

    def classifier_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of ``name`` with metrics, fingerprint, config and checksums."""
        return self.request("GET", f"/v1/classifiers/{name}/versions").json()

    def classifier_report(
        self, name: str, version: int | None = None, *, format: str = "json"
    ) -> dict[str, Any] | str:
        """A version's evaluation report: a dict (``json``) or markdown text."""
        path = f"/v1/classifiers/{name}/" + (f"versions/{version}/" if version else "") + "report"
        response = self.request("GET", path, params={"format": format})
        return response.json() if format == "json" else response.text

    def classifier_file(self, name: str, version: int, file: str) -> bytes:
        """A report file of a version (``confusion.png``, ``curves.png``, ...)."""
        return self.request("GET", f"/v1/classifiers/{name}/versions/{version}/{file}").content

    def promote_classifier(
        self, name: str, version: int, stage: str = "production"
    ) -> dict[str, Any]:
        """Move a version to ``staging``, ``production`` or ``archived``."""
        body = {"version": version, "stage": stage}
        return self.request("POST", f"/v1/classifiers/{name}/promote", json=body).json()

    def rollback_classifier(self, name: str) -> dict[str, Any]:
        """Restore the previous production version of ``name``."""
        return self.request("POST", f"/v1/classifiers/{name}/rollback").json()

    def predict(
        self, name: str, file: FileInput, *, version: int | None = None, top_k: int | None = None
    ) -> Prediction:
        """The most probable labels of a clip."""
        fields = {"version": version, "top_k": top_k}
        body = self.post_audio(f"/v1/classifiers/{name}/predict", file, fields).json()
        top = [LabelScore(**item) for item in body.pop("top")]
        return Prediction(top=top, **body)

    def detect(
        self,
        name: str,
        file: FileInput,
        *,
        version: int | None = None,
        threshold: float | None = None,
    ) -> DetectionResult:
        """Timed events of ``name``'s labels in a long recording."""
        fields = {"version": version, "threshold": threshold}
        body = self.post_audio(f"/v1/classifiers/{name}/detect", file, fields).json()
        events = [Detection(**event) for event in body.pop("events")]
        return DetectionResult(events=events, **body)

    def add_examples(
        self, name: str, label: str, files: list[FileInput], *, version: int | None = None
    ) -> ExamplesResult:
        """Add labelled clips (a new label too): a new version without full retraining."""
        parts = [("files", _file_part(file)) for file in files]
        fields = _form({"label": label, "version": version})
        body = self.request(
            "POST", f"/v1/classifiers/{name}/examples", data=fields, files=parts
        ).json()
        return ExamplesResult(**body)

    # -- jobs -----------------------------------------------------------------------------

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
                status = 500 if error.get("code") == "internal_error" else 400
                raise error_for_status(status, {"error": error})
            if time.monotonic() > deadline:
                raise TympanError(f"Job {job_id} did not finish within {timeout:g} s.")
            time.sleep(poll)
