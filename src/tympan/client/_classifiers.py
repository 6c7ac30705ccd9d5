"""SDK methods for custom classifiers: train, version, report, serve, update."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tympan.client._base import BaseClient, FileInput, _file_part, _form
from tympan.tasks.classifiers import (
    Detection,
    DetectionResult,
    ExamplesResult,
    LabelScore,
    Prediction,
)


class ClassifierMethods(BaseClient):
    """``/v1/classifiers``."""

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
        ``arch``: transfer, cnn, crnn, attention, or multimodal (audio and transcript).
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
        """A version's evaluation report: a dict (``json``), or ``markdown`` or ``html`` text."""
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

    def classifier_drift(self, name: str, version: int | None = None) -> dict[str, Any]:
        """Whether the clips a version (the served one unless given) classified lately still
        look like its validation clips: each statistic's distance, and advice."""
        params = {"version": version} if version else None
        return self.request("GET", f"/v1/classifiers/{name}/drift", params=params).json()

    def predict(
        self, name: str, file: FileInput, *, version: int | None = None, top_k: int | None = None
    ) -> Prediction:
        """The most probable labels of a clip (with the ``transcript`` a multimodal one read)."""
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
