"""SDK methods for diarization."""

from __future__ import annotations

from typing import Any

from tympan.client._base import BaseClient, FileInput
from tympan.tasks.diarization import (
    ClusteringMethod,
    DiarizationResult,
    DiarizedSpeaker,
    SpeakerTurn,
)


class DiarizationMethods(BaseClient):
    """``/v1/audio/diarization``."""

    def diarize(
        self,
        file: FileInput,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        clustering: ClusteringMethod | None = None,
        identify: bool | None = None,
        threshold: float | None = None,
        model: str | None = None,
        noise_reduction: str | None = None,
        overlap: bool | None = None,
    ) -> DiarizationResult:
        """Who spoke when in ``file``; enrolled speakers come back named. Overlapped speech
        has two speakers once the speaker-count model is trained (``overlap=False``: never)."""
        fields = {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
            "clustering": clustering,
            "identify": identify,
            "threshold": threshold,
            "model": model,
            "noise_reduction": noise_reduction,
            "overlap": overlap,
        }
        body = self.post_audio("/v1/audio/diarization", file, fields).json()
        return DiarizationResult(
            speakers=[DiarizedSpeaker(**item) for item in body.pop("speakers")],
            segments=[SpeakerTurn(**item) for item in body.pop("segments")],
            **body,
        )

    def diarize_rttm(
        self,
        file: FileInput,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        model: str | None = None,
    ) -> str:
        """The diarization of ``file`` as RTTM text."""
        fields = {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
            "model": model,
            "response_format": "rttm",
        }
        return self.post_audio("/v1/audio/diarization", file, fields).text

    def train_overlap(
        self,
        path: str,
        *,
        noise_path: str | None = None,
        steps: int | None = None,
        seed: int | None = None,
        wait: bool = True,
        on_progress: Any = None,
    ) -> dict[str, Any]:
        """Train the speaker-count model from a server dataset folder of single-speaker clips
        (``audio``, ``speaker``); waits for the job unless ``wait`` is False. Returns the
        job (its ``result`` holds the training report)."""
        body = {"path": path, "noise_path": noise_path, "steps": steps, "seed": seed}
        body = {key: value for key, value in body.items() if value is not None}
        job = self.request("POST", "/v1/audio/diarization/overlap/train", json=body).json()
        return self.wait_job(job["id"], on_progress=on_progress) if wait else job

    def overlap_model(self) -> dict[str, Any]:
        """Whether the speaker-count model is trained, and its training report."""
        return self.request("GET", "/v1/audio/diarization/overlap").json()
