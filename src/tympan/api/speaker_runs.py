"""Speaker work shared by several routers: the speaker model to use, diarization with leases.

Routers never import each other; the asr, diarization and speakers routers all call these.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from tympan.api.services import Services
from tympan.audio import Audio
from tympan.budgets import check_budget
from tympan.store.speakers import speaker_store
from tympan.tasks.diarization import DiarizationOptions, DiarizationResult, diarize
from tympan.tasks.speakers import SPEAKER_TASK, default_threshold
from tympan.tasks.vad import SILERO_MODEL_ID

__all__ = ["diarize_audio", "resolve_speaker_model"]


def resolve_speaker_model(services: Services, model: str | None) -> str:
    """The id of the requested speaker model, or of the default one (404 if unknown)."""
    registry = services.registry
    spec = registry.get(model, task=SPEAKER_TASK) if model else registry.default(SPEAKER_TASK)
    return spec.id


async def diarize_audio(
    services: Services,
    audio: Audio,
    model: str | None,
    options: DiarizationOptions,
    namespace: str,
) -> DiarizationResult:
    """Run the diarization pipeline with the VAD and speaker models leased, in the pool.

    Enrolled speakers of the chosen model in ``namespace`` are matched when
    ``options.identify`` is set.
    """
    options.validate()
    check_budget(
        services.settings,
        "max_diarization_seconds",
        audio.duration,
        "seconds of audio to diarize",
        param="file",
    )
    model_id = resolve_speaker_model(services, model)
    index = None
    if options.identify:
        index = await run_in_threadpool(speaker_store(services.db).index, model_id, None, namespace)
    manager = services.manager

    def run() -> DiarizationResult:
        with (
            manager.use(SILERO_MODEL_ID) as vad,
            manager.use(model_id, task=SPEAKER_TASK) as encoder,
        ):
            return diarize(
                audio,
                vad.handle,
                encoder.handle,
                model_id,
                options,
                index,
                default_threshold(model_id),
            )

    return await manager.run(run)
