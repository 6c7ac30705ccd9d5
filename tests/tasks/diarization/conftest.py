"""The diarization tests' models: Silero and the GE2E encoder, leased from the session's service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tympan.api.services import Services
from tympan.tasks.speakers import GE2E_MODEL_ID
from tympan.tasks.vad import SILERO_MODEL_ID


@pytest.fixture(scope="module")
def models(services: Services) -> Iterator[tuple]:
    """(Silero VAD, GE2E encoder) handles, leased for one module."""
    with (
        services.manager.use(SILERO_MODEL_ID) as vad,
        services.manager.use(GE2E_MODEL_ID) as encoder,
    ):
        yield vad.handle, encoder.handle
