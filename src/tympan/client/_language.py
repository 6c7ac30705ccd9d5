"""SDK method for language identification."""

from __future__ import annotations

from tympan.client._base import BaseClient, FileInput
from tympan.tasks.asr.routing import LanguageCandidate, LanguageReport


class LanguageMethods(BaseClient):
    """``/v1/audio/language``."""

    def identify_language(self, file: FileInput, *, top: int | None = None) -> LanguageReport:
        """The language spoken in ``file`` and the ``top`` likeliest candidates."""
        body = self.post_audio("/v1/audio/language", file, {"top": top}).json()
        candidates = [LanguageCandidate(**item) for item in body.pop("candidates")]
        return LanguageReport(candidates=candidates, **body)
