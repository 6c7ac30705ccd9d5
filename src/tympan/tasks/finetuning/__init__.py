"""ASR fine-tuning as a service: uploaded dataset files, fine-tuning jobs, fine-tuned models.

files (zip + manifest, checked)  ->  job (validate, fine-tune, events)  ->  publish
(``ft:<base>:<suffix>:<N>``, artifacts + database row)  ->  registry (served by name like any
Whisper). The training itself is ``tympan.tasks.adaptation.finetune``.
"""

from __future__ import annotations

from tympan.tasks.finetuning.models import (
    FINE_TUNED_PREFIX,
    register_fine_tuned_models,
    remove_unpublished,
)
from tympan.tasks.finetuning.service import FineTuningRequest, FineTuningService
from tympan.tasks.finetuning.uploads import FILE_PURPOSE, DatasetFiles

__all__ = [
    "FILE_PURPOSE",
    "FINE_TUNED_PREFIX",
    "DatasetFiles",
    "FineTuningRequest",
    "FineTuningService",
    "register_fine_tuned_models",
    "remove_unpublished",
]
