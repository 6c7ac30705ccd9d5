"""SDK methods for diarization."""

from __future__ import annotations

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
    ) -> DiarizationResult:
        """Who spoke when in ``file``; enrolled speakers come back named."""
        fields = {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
            "clustering": clustering,
            "identify": identify,
            "threshold": threshold,
            "model": model,
            "noise_reduction": noise_reduction,
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
