"""SDK methods for transcription and translation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tympan.client._base import BaseClient, FileInput, _file_part, _form
from tympan.errors import TympanError, error_for_status
from tympan.tasks.asr.results import Segment, Transcription, Word


class AsrMethods(BaseClient):
    """``/v1/audio/transcriptions``, ``/v1/audio/translations``, ``/v1/audio/language`` and the
    models' stored glossaries."""

    def detect_language(self, file: FileInput, *, top: int | None = None) -> dict[str, Any]:
        """The language spoken: ``language``, ``probability`` and the ranked ``languages``."""
        return self.post_audio("/v1/audio/language", file, {"top": top}).json()

    def glossary(self, model: str) -> list[str]:
        """The entries of ``model``'s stored glossary (empty when it has none)."""
        return self.request("GET", f"/v1/models/{model}/glossary").json()["words"]

    def set_glossary(self, model: str, words: list[str]) -> list[str]:
        """Store ``words`` as ``model``'s glossary: every request with the model favours them."""
        response = self.request("PUT", f"/v1/models/{model}/glossary", json={"words": words})
        return response.json()["words"]

    def delete_glossary(self, model: str) -> None:
        """Forget ``model``'s glossary."""
        self.request("DELETE", f"/v1/models/{model}/glossary")

    def transcribe(
        self,
        file: FileInput,
        *,
        model: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        word_timestamps: bool = False,
        beam_size: int | None = None,
        vad_filter: bool | None = None,
        hotwords: str | None = None,
        noise_reduction: str | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        **options: Any,
    ) -> Transcription:
        """Transcribe ``file`` (``POST /v1/audio/transcriptions``, ``verbose_json``).

        ``on_progress(fraction, text_so_far)`` turns on streaming, so long recordings report
        each finished chunk; ``options`` are further decoding fields (``best_of``, ...).
        """
        fields = {
            "model": model,
            "language": language,
            "prompt": prompt,
            "temperature": temperature,
            "beam_size": beam_size,
            "vad_filter": vad_filter,
            "hotwords": hotwords,
            "noise_reduction": noise_reduction,
            "word_timestamps": word_timestamps or None,
            **options,
        }
        return self._transcription("/v1/audio/transcriptions", file, fields, on_progress)

    def translate(
        self,
        file: FileInput,
        *,
        model: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        noise_reduction: str | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        **options: Any,
    ) -> Transcription:
        """Translate the speech in ``file`` to English (``POST /v1/audio/translations``)."""
        fields = {
            "model": model,
            "prompt": prompt,
            "temperature": temperature,
            "noise_reduction": noise_reduction,
            **options,
        }
        return self._transcription("/v1/audio/translations", file, fields, on_progress)

    def _transcription(
        self,
        path: str,
        file: FileInput,
        fields: dict[str, Any],
        on_progress: Callable[[float, str], None] | None,
    ) -> Transcription:
        fields = {**fields, "response_format": "verbose_json"}  # timed segments, streamed or not
        if on_progress is None:
            return self._transcription_from(self.post_audio(path, file, fields).json())
        request = self._http.build_request(
            "POST", path, files={"file": _file_part(file)}, data=_form({**fields, "stream": True})
        )
        response = self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise error_for_status(response.status_code, response.json())
            text, result = "", None
            # Read to the stream's end, not only to the result: closing it before the server's
            # last (empty) chunk made the server's send fail ("Task exception was never
            # retrieved" on every in-process `tympan transcribe`).
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line.removeprefix("data: "))
                if event["type"] == "transcript.text.delta":
                    text += event["delta"]
                    on_progress(event["progress"], text.strip())
                elif event["type"] == "transcript.text.done":
                    result = self._transcription_from(event["transcription"])
                elif event["type"] == "error":
                    raise error_for_status(event.get("status", 400), event)
        finally:
            response.close()
        if result is None:
            raise TympanError("The transcription stream ended without a result.")
        return result

    @staticmethod
    def _transcription_from(body: dict[str, Any]) -> Transcription:
        """A ``verbose_json`` body as a ``Transcription`` record."""

        def words(items: list[dict[str, Any]] | None) -> list[Word] | None:
            return None if items is None else [Word(**item) for item in items]

        segments = [
            Segment(**{**item, "words": words(item.get("words"))}) for item in body["segments"]
        ]
        return Transcription(
            task=body["task"],
            language=body["language"],
            duration=body["duration"],
            text=body["text"],
            segments=segments,
            words=words(body.get("words")),
            language_probability=body.get("language_probability"),
        )
