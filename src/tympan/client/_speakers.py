"""SDK methods for speaker embeddings, enrollment, verification and identification."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tympan.client._base import BaseClient, FileInput, _file_part, _form
from tympan.tasks.speakers import Candidate, Embedding, Identification, Speaker, Verification


def _speaker(body: dict[str, Any]) -> Speaker:
    times = {key: datetime.fromisoformat(body[key]) for key in ("created_at", "updated_at")}
    return Speaker(**{**body, **times})


class SpeakerMethods(BaseClient):
    """``/v1/speakers``."""

    def speaker_embedding(self, file: FileInput, *, model: str | None = None) -> Embedding:
        """The L2-normalised speaker embedding of ``file`` (``POST /v1/speakers/embed``)."""
        body = self.post_audio("/v1/speakers/embed", file, {"model": model}).json()
        return Embedding(**body)

    def enroll_speaker(
        self,
        name: str,
        files: FileInput | Sequence[FileInput],
        *,
        metadata: Mapping[str, Any] | None = None,
        model: str | None = None,
        noise_reduction: str | None = None,
    ) -> Speaker:
        """Enroll a speaker from one or more recordings (``POST /v1/speakers``)."""
        fields = {
            "name": name,
            "metadata": json.dumps(dict(metadata)) if metadata is not None else None,
            "model": model,
            "noise_reduction": noise_reduction,
        }
        return _speaker(self._post_files("/v1/speakers", files, fields))

    def add_speaker_samples(
        self,
        speaker_id: str,
        files: FileInput | Sequence[FileInput],
        *,
        noise_reduction: str | None = None,
    ) -> Speaker:
        """Add recordings to a speaker and update its voiceprint."""
        fields = {"noise_reduction": noise_reduction}
        path = f"/v1/speakers/{speaker_id}/samples"
        return _speaker(self._post_files(path, files, fields))

    def speakers(self) -> list[Speaker]:
        """Every enrolled speaker."""
        return [_speaker(body) for body in self.request("GET", "/v1/speakers").json()]

    def speaker(self, speaker_id: str) -> Speaker:
        """One enrolled speaker."""
        return _speaker(self.request("GET", f"/v1/speakers/{speaker_id}").json())

    def update_speaker(
        self,
        speaker_id: str,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Speaker:
        """Rename a speaker and/or replace its metadata."""
        fields = {"name": name, "metadata": metadata}
        body = {key: value for key, value in fields.items() if value is not None}
        return _speaker(self.request("PATCH", f"/v1/speakers/{speaker_id}", json=body).json())

    def delete_speaker(self, speaker_id: str) -> None:
        """Delete a speaker with its samples and voiceprint."""
        self.request("DELETE", f"/v1/speakers/{speaker_id}")

    def verify_speaker(
        self,
        file: FileInput,
        *,
        speaker_id: str | None = None,
        file2: FileInput | None = None,
        threshold: float | None = None,
        model: str | None = None,
        noise_reduction: str | None = None,
    ) -> Verification:
        """Is ``file`` the enrolled ``speaker_id`` (or the speaker of ``file2``)?"""
        files = [("file", _file_part(file))]
        if file2 is not None:
            files.append(("file2", _file_part(file2, "audio2")))
        fields = {
            "speaker_id": speaker_id,
            "threshold": threshold,
            "model": model,
            "noise_reduction": noise_reduction,
        }
        response = self.request("POST", "/v1/speakers/verify", files=files, data=_form(fields))
        return Verification(**response.json())

    def identify_speaker(
        self,
        file: FileInput,
        *,
        speaker_ids: Sequence[str] | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        model: str | None = None,
        noise_reduction: str | None = None,
    ) -> Identification:
        """Which enrolled speaker (of ``speaker_ids``) speaks; ``speaker`` is None if nobody."""
        fields = {
            "speaker_ids": ",".join(speaker_ids) if speaker_ids is not None else None,
            "threshold": threshold,
            "top_k": top_k,
            "model": model,
            "noise_reduction": noise_reduction,
        }
        body = self.post_audio("/v1/speakers/identify", file, fields).json()
        best = body.pop("speaker")
        return Identification(
            speaker=Candidate(**best) if best else None,
            ranking=[Candidate(**item) for item in body.pop("ranking")],
            **body,
        )

    def _post_files(
        self, path: str, files: FileInput | Sequence[FileInput], fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        many = files if isinstance(files, list | tuple) else [files]
        parts = [("file", _file_part(item)) for item in many]
        return self.request("POST", path, files=parts, data=_form(fields)).json()
