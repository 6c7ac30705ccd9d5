"""SDK methods for speech enhancement (``POST /v1/audio/enhancements``)."""

from __future__ import annotations

from collections.abc import Iterator

from tympan.audio.encode import EncodedFormat
from tympan.client._base import BaseClient, FileInput, _file_part, _form

__all__ = ["EnhancementMethods"]


class EnhancementMethods(BaseClient):
    def enhance(
        self, file: FileInput, *, model: str | None = None, response_format: EncodedFormat = "wav"
    ) -> bytes:
        """``file`` with its noise reduced, as the bytes of one ``response_format`` file."""
        return b"".join(self.enhance_stream(file, model=model, response_format=response_format))

    def enhance_stream(
        self, file: FileInput, *, model: str | None = None, response_format: EncodedFormat = "wav"
    ) -> Iterator[bytes]:
        """``file`` with its noise reduced, as the byte chunks the server streams block by
        block while it enhances."""
        fields = _form({"model": model, "response_format": response_format})
        files = {"file": _file_part(file)}
        yield from self.stream("POST", "/v1/audio/enhancements", files=files, data=fields)
