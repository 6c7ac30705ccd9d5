"""SDK methods for ASR fine-tuning: dataset files, jobs, events (OpenAI's shapes, as dicts)."""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tympan.client._base import BaseClient, FileInput
from tympan.errors import Conflict, TympanError, error_for_status

__all__ = ["FineTuningMethods", "zip_folder"]


def zip_folder(folder: Path) -> bytes:
    """Every file under ``folder`` (a manifest and the clips it names) as an upload zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # audio is compressed
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


class FineTuningMethods(BaseClient):
    """``/v1/files`` and ``/v1/fine_tuning/jobs``."""

    def upload_dataset(self, data: str | os.PathLike[str] | bytes) -> dict[str, Any]:
        """Upload a fine-tuning dataset: a folder with ``manifest.csv``/``.jsonl`` and its
        clips (zipped here), a zip file, or zip bytes; returns OpenAI's File object."""
        if isinstance(data, bytes):
            payload, name = data, "dataset.zip"
        elif Path(data).is_dir():
            payload, name = zip_folder(Path(data)), f"{Path(data).name}.zip"
        else:
            payload, name = Path(data).read_bytes(), Path(data).name
        files = {"file": (name, payload, "application/zip")}
        return self.request("POST", "/v1/files", data={"purpose": "fine-tune"}, files=files).json()

    def files(self, purpose: str | None = None) -> list[dict[str, Any]]:
        """The uploaded files, newest first."""
        params = {"purpose": purpose} if purpose else None
        return self.request("GET", "/v1/files", params=params).json()["data"]

    def delete_file(self, file_id: str) -> dict[str, Any]:
        """Remove an uploaded file."""
        return self.request("DELETE", f"/v1/files/{file_id}").json()

    def create_fine_tuning_job(
        self,
        model: str,
        training_file: str,
        *,
        validation_file: str | None = None,
        suffix: str | None = None,
        seed: int | None = None,
        n_epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate_multiplier: float | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Queue a fine-tuning job of ``model`` on an uploaded file. ``options`` are Tympan's
        (``training_method``, ``layers``, ``augment``, ``lora_rank``, ``max_steps``, ...)."""
        hyperparameters = {
            "n_epochs": n_epochs,
            "batch_size": batch_size,
            "learning_rate_multiplier": learning_rate_multiplier,
        }
        body = {
            "model": model,
            "training_file": training_file,
            "validation_file": validation_file,
            "suffix": suffix,
            "seed": seed,
            "hyperparameters": {k: v for k, v in hyperparameters.items() if v is not None},
            **options,
        }
        body = {key: value for key, value in body.items() if value is not None}
        return self.request("POST", "/v1/fine_tuning/jobs", json=body).json()

    def fine_tuning_job(self, job_id: str) -> dict[str, Any]:
        """A fine-tuning job's state."""
        return self.request("GET", f"/v1/fine_tuning/jobs/{job_id}").json()

    def fine_tuning_jobs(self, *, after: str | None = None, limit: int = 20) -> dict[str, Any]:
        """A page of fine-tuning jobs, newest first (``data``, ``has_more``)."""
        params: dict[str, Any] = {"limit": limit} | ({"after": after} if after else {})
        return self.request("GET", "/v1/fine_tuning/jobs", params=params).json()

    def cancel_fine_tuning_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job."""
        return self.request("POST", f"/v1/fine_tuning/jobs/{job_id}/cancel").json()

    def fine_tuning_events(
        self, job_id: str, *, after: str | None = None, limit: int = 20
    ) -> dict[str, Any]:
        """A page of a job's events, newest first (``data``, ``has_more``)."""
        params: dict[str, Any] = {"limit": limit} | ({"after": after} if after else {})
        return self.request("GET", f"/v1/fine_tuning/jobs/{job_id}/events", params=params).json()

    def fine_tuning_report(self, job_id: str) -> dict[str, Any]:
        """The report of the model a job published (validation WER before and after, ...)."""
        return self.request("GET", f"/v1/fine_tuning/jobs/{job_id}/report").json()

    def fine_tuned_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of a fine-tuned model (``ft:<base>:<suffix>``) with its stage."""
        return self.request("GET", f"/v1/fine_tuning/models/{name}/versions").json()

    def promote_fine_tuned(
        self, name: str, version: int, stage: str = "production"
    ) -> dict[str, Any]:
        """Move a version to ``staging``, ``production`` or ``archived``."""
        body = {"version": version, "stage": stage}
        return self.request("POST", f"/v1/fine_tuning/models/{name}/promote", json=body).json()

    def rollback_fine_tuned(self, name: str) -> dict[str, Any]:
        """Restore the previous production version of ``name``."""
        return self.request("POST", f"/v1/fine_tuning/models/{name}/rollback").json()

    def add_correction(
        self, file: FileInput, text: str, model: str, *, speaker: str | None = None
    ) -> dict[str, Any]:
        """Store a clip (at most 30 s) with its corrected transcript for the ASR ``model``;
        ``fine_tuning_job`` names the job it started when it completed a batch."""
        fields = {"text": text, "model": model, "speaker": speaker}
        return self.post_audio("/v1/audio/corrections", file, fields).json()

    def corrections(self, model: str | None = None) -> dict[str, Any]:
        """The stored corrections (of ``model``), oldest first: ``count``, ``unused``, ``data``."""
        params = {"model": model} if model else None
        return self.request("GET", "/v1/audio/corrections", params=params).json()

    def delete_correction(self, correction_id: str) -> dict[str, Any]:
        """Forget a correction and its audio."""
        return self.request("DELETE", f"/v1/audio/corrections/{correction_id}").json()

    def train_on_corrections(self, model: str, **options: Any) -> dict[str, Any]:
        """Start a fine-tuning job on ``model``'s unused corrections now; ``options`` are
        ``training_method``, ``layers``, ``max_steps``, ``n_epochs``, ``learning_rate``,
        ``seed``. The job's result (``job(id)["result"]``) says whether it was promoted."""
        body = {"model": model, **options}
        return self.request("POST", "/v1/audio/corrections/train", json=body).json()

    def wait_fine_tuning_job(
        self,
        job_id: str,
        *,
        timeout: float = 24 * 3600.0,
        poll: float = 1.0,
        on_progress: Callable[[float, str], None] | None = None,
    ) -> dict[str, Any]:
        """Poll a job until it ends; ``on_progress(fraction, message)`` sees each update.

        Returns the job once it succeeded; raises its error, or ``Conflict`` if cancelled.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.fine_tuning_job(job_id)
            if on_progress is not None:
                state = self.job(job_id)
                on_progress(state["progress"], state["message"] or job["status"])
            if job["status"] == "succeeded":
                return job
            if job["status"] == "failed":
                error = self.job(job_id)["error"]  # the runner's record keeps the HTTP status
                raise error_for_status(error.get("status", 500), {"error": error})
            if job["status"] == "cancelled":
                raise Conflict(f"Fine-tuning job {job_id} was cancelled.", param="job_id")
            if time.monotonic() > deadline:
                raise TympanError(f"Fine-tuning job {job_id} did not finish in {timeout:g} s.")
            time.sleep(poll)
