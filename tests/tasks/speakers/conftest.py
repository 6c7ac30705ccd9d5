"""Loaded speaker encoders (through the session service's model manager, so loads are shared)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tympan.api.services import Services
from tympan.tasks.speakers import GE2E_MODEL_ID, VOICEFILTER_MODEL_ID, SpeakerEncoder


def _lease(services: Services, model_id: str) -> Iterator[SpeakerEncoder]:
    with services.manager.use(model_id) as model:
        yield model.handle


@pytest.fixture(scope="module")
def ge2e(services: Services) -> Iterator[SpeakerEncoder]:
    yield from _lease(services, GE2E_MODEL_ID)


@pytest.fixture(scope="module")
def dvector(services: Services) -> Iterator[SpeakerEncoder]:
    yield from _lease(services, VOICEFILTER_MODEL_ID)
