"""SDK methods for speech synthesis."""

from __future__ import annotations

from collections.abc import Iterator

from tympan.audio.encode import EncodedFormat
from tympan.client._base import BaseClient
from tympan.tasks.tts import VoiceCard


class SpeechMethods(BaseClient):
    """``/v1/audio/speech`` and ``/v1/audio/voices``."""

    def speech(
        self,
        text: str,
        voice: str | None = None,
        *,
        model: str | None = None,
        response_format: EncodedFormat = "mp3",
        speed: float | None = None,
    ) -> bytes:
        """``text`` spoken, as the bytes of one ``response_format`` file."""
        return b"".join(
            self.speech_stream(
                text, voice, model=model, response_format=response_format, speed=speed
            )
        )

    def speech_stream(
        self,
        text: str,
        voice: str | None = None,
        *,
        model: str | None = None,
        response_format: EncodedFormat = "mp3",
        speed: float | None = None,
    ) -> Iterator[bytes]:
        """``text`` spoken, as the byte chunks the server streams while it synthesises."""
        body = {
            "model": model,
            "input": text,
            "voice": voice,
            "response_format": response_format,
            "speed": speed,
        }
        payload = {key: value for key, value in body.items() if value is not None}
        yield from self.stream("POST", "/v1/audio/speech", json=payload)

    def voices(self) -> list[VoiceCard]:
        """Every voice the service speaks with (``GET /v1/audio/voices``)."""
        cards = self.request("GET", "/v1/audio/voices").json()["data"]
        return [VoiceCard(**card) for card in cards]
