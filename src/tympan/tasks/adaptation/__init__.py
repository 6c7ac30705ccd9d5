"""Adapting speech recognition: Whisper fine-tuned on a labelled dataset, served like the base.

The training: ``weights`` moves Whisper between CTranslate2 (serving) and ``transformers``
(training); ``dataset`` reads and splits a manifest of (audio, text[, speaker]); ``finetune``
trains (LoRA, top layers or full) and writes both result folders.

The service around it: ``uploads`` (dataset files: zip + manifest, checked) -> ``service``
(fine-tuning jobs: validate, fine-tune through ``runner``, events) -> publish
(``ft:<base>:<suffix>:<N>``, artifacts + database row) -> ``models`` (registered, served by name
like any Whisper).

Only the service side is imported here: ``runner``, ``finetune`` and ``weights`` pull in
``transformers`` and ``peft`` (seconds of imports no transcription needs), so a job imports
them when it runs.
"""

from __future__ import annotations

from tympan.tasks.adaptation.models import (
    FINE_TUNED_PREFIX,
    register_fine_tuned_models,
    remove_unpublished,
)
from tympan.tasks.adaptation.service import FineTuningRequest, FineTuningService
from tympan.tasks.adaptation.uploads import (
    FILE_PURPOSE,
    DatasetFiles,
    remove_leftover_training_files,
)

__all__ = [
    "FILE_PURPOSE",
    "FINE_TUNED_PREFIX",
    "DatasetFiles",
    "FineTuningRequest",
    "FineTuningService",
    "register_fine_tuned_models",
    "remove_leftover_training_files",
    "remove_unpublished",
]
