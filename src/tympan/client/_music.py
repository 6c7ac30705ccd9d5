"""SDK methods for music generation and training."""

from __future__ import annotations

from typing import Any

from tympan.client._base import BaseClient, FileInput
from tympan.tasks.music import Composition, MusicNote


class MusicMethods(BaseClient):
    """``/v1/music``."""

    def music_generate(
        self,
        prompt: FileInput | None = None,
        *,
        notes: list[dict[str, Any]] | None = None,
        abc: str | None = None,
        model: str | None = None,
        bars: int | None = None,
        seconds: float | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        tempo: float | None = None,
        instrument: int | None = None,
        key: str | None = None,
        meter: str | None = None,
        stay_in_key: bool | None = None,
        strict_bars: bool | None = None,
        response_format: str = "midi",
    ) -> bytes | Composition:
        """Continue a melody (MIDI ``prompt``, ``notes`` in beats, or ``abc``) or compose anew.

        Returns the file's bytes (midi, wav, mp3, flac) or, for ``json``, a ``Composition``.
        """
        fields = {
            "model": model,
            "bars": bars,
            "seconds": seconds,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "seed": seed,
            "tempo": tempo,
            "instrument": instrument,
            "key": key,
            "meter": meter,
            "stay_in_key": stay_in_key,
            "strict_bars": strict_bars,
            "response_format": response_format,
        }
        if prompt is not None:
            fields["abc"] = abc
            response = self.post_audio("/v1/music/generations", prompt, fields, file_field="prompt")
        else:
            body = {**fields, "notes": notes, "abc": abc}
            body = {name: value for name, value in body.items() if value is not None}
            response = self.request("POST", "/v1/music/generations", json=body)
        if response_format != "json":
            return response.content
        data = response.json()
        data["notes"] = [MusicNote(**note) for note in data["notes"]]
        return Composition(**data)

    def music_train(
        self,
        model: str = "folk-lstm",
        *,
        max_seconds: float | None = None,
        wait: bool = True,
        on_progress: Any = None,
    ) -> dict[str, Any]:
        """Train a music model (``POST /v1/music/train``); waits for the job unless ``wait``
        is False. Returns the job (its ``result`` holds the training report)."""
        body = {"model": model, "max_seconds": max_seconds}
        job = self.request("POST", "/v1/music/train", json=body).json()
        return self.wait_job(job["id"], on_progress=on_progress) if wait else job
