"""Corrections (``/v1/audio/corrections``): keep learning from what users fix.

A correction is a clip (at most ``TYMPAN_CORRECTION_MAX_SECONDS``) and its corrected text for
one ASR model. When a model's corrections not yet trained on reach ``TYMPAN_CORRECTIONS_BATCH``
(or on request) they become an ordinary fine-tuning job (``FineTuningService``, the one
training path): the corrections minus a held-back share are zipped into a training file, the
model's current version (its production version, else the bundled base) is fine-tuned into
the next version of the name, and ``tympan.tasks.adaptation.review`` promotes that version
only if it wins on the held-back corrections without regressing on general English. The
held-back corrections of every earlier batch of the model join the judge: no version trained
on them, and a few clips a batch are too few to tell a better version from luck.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import soundfile

from tympan.audio import decode_audio
from tympan.config import DEFAULT_NAMESPACE
from tympan.errors import AudioTooLong, InvalidParameter, PayloadTooLarge
from tympan.store.corrections import (
    Correction,
    CorrectionStore,
    correction_key,
    new_correction_id,
)
from tympan.store.db import utc_now
from tympan.store.finetuning import FineTuningJob, FineTuningStore
from tympan.tasks.adaptation.dataset import Utterance, split_dataset
from tympan.tasks.adaptation.models import FINE_TUNED_PREFIX, base_folder
from tympan.tasks.adaptation.review import review_promotion
from tympan.tasks.adaptation.service import FineTuningRequest, FineTuningService
from tympan.tasks.adaptation.uploads import FILE_PURPOSE, DatasetFiles

if TYPE_CHECKING:
    from tympan.api.services import Services

__all__ = ["HELD_BACK_SHARE", "MIN_CORRECTIONS", "CorrectionTraining", "CorrectionsService"]

HELD_BACK_SHARE = 0.2  # of a batch, scored on, never trained on
MIN_CORRECTIONS = 3  # one held back, and the job splits the rest into training and validation


@dataclass(frozen=True, slots=True)
class CorrectionTraining:
    """The fine-tuning choices of a corrections job (the service's defaults when unset)."""

    training_method: Literal["lora", "top_layers", "full"] = "lora"
    layers: Literal["decoder", "top_encoder", "all"] | None = None  # None: the task default
    max_steps: int | None = None
    n_epochs: int | None = None
    learning_rate: float | None = None
    seed: int | None = None


class CorrectionsService:
    """The corrections of one namespace; another namespace's ids and models are unknown (404)."""

    def __init__(self, services: Services, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.services = services
        self.namespace = namespace
        self.store = CorrectionStore(services.db)
        self.fine_tuning = FineTuningService(services, namespace)

    def add(
        self, source: BinaryIO, text: str, model: str, speaker: str | None = None
    ) -> tuple[Correction, FineTuningJob | None]:
        """Store a correction (404 unknown model, 400 empty text or bad audio, 413 over
        ``TYMPAN_CORRECTION_MAX_SECONDS`` or ``TYMPAN_CORRECTION_MAX_CHARS``); the job it starts
        when the model's unused corrections reach ``TYMPAN_CORRECTIONS_BATCH``, else None."""
        settings = self.services.settings
        text = text.strip()
        if not text:
            raise InvalidParameter("text must hold the corrected transcript.", param="text")
        if len(text) > settings.correction_max_chars:
            raise PayloadTooLarge(
                f"text has {len(text)} characters; the limit is {settings.correction_max_chars} "
                "(TYMPAN_CORRECTION_MAX_CHARS).",
                param="text",
            )
        model = self._check_model(model)
        try:
            audio = decode_audio(source, max_seconds=settings.correction_max_seconds)
        except AudioTooLong:
            raise AudioTooLong(
                f"A correction's audio may last {settings.correction_max_seconds:g} s "
                "(TYMPAN_CORRECTION_MAX_SECONDS).",
                param="file",
            ) from None
        correction_id = new_correction_id()
        key = correction_key(correction_id)
        buffer = io.BytesIO()
        soundfile.write(buffer, audio.samples, audio.sample_rate, format="WAV", subtype="PCM_16")
        self.services.artifacts.write_bytes(key, buffer.getvalue())
        try:
            correction = self.store.add(
                Correction(
                    correction_id,
                    self.namespace,
                    model,
                    text,
                    (speaker or "").strip()[:200] or None,
                    round(audio.duration, 3),
                    None,
                    utc_now(),
                )
            )
        except BaseException:
            self.services.artifacts.delete(key)
            raise
        if self.store.count_unused(self.namespace, model) < settings.corrections_batch:
            return correction, None
        return correction, self._start(model, CorrectionTraining())  # None: another took them

    def list(self, model: str | None = None, unused: bool = False) -> list[Correction]:
        """The namespace's corrections (of ``model``; only those a new job would train on),
        oldest first."""
        model = self._check_model(model) if model is not None else None
        return self.store.list(self.namespace, model, unused)

    def delete(self, correction_id: str) -> Correction:
        """Forget a correction, then remove its audio (404 if the namespace has none)."""
        deleted = self.store.delete(correction_id, self.namespace)
        self.services.artifacts.delete(correction_key(deleted.id))
        return deleted

    def train(self, model: str, training: CorrectionTraining | None = None) -> FineTuningJob:
        """Queue a fine-tuning job on ``model``'s unused corrections (400 fewer than
        ``MIN_CORRECTIONS``); they count as used from here."""
        model = self._check_model(model)
        job = self._start(model, training or CorrectionTraining())
        if job is None:
            left = len(self.store.list(self.namespace, model, unused=True))
            raise InvalidParameter(
                f"{model!r} has {left} unused correction(s); a job needs at least "
                f"{MIN_CORRECTIONS} (one held back to decide the promotion, two to train and "
                "validate on).",
                param="model",
            )
        return job

    def _start(self, model: str, training: CorrectionTraining) -> FineTuningJob | None:
        """A job on the corrections this call claims (None when fewer than
        ``MIN_CORRECTIONS`` were left to claim, which are then released)."""
        claim = f"claim-{uuid.uuid4().hex[:16]}"
        corrections = self.store.claim_unused(self.namespace, model, claim)
        ids = [c.id for c in corrections]
        try:
            if len(corrections) < MIN_CORRECTIONS:
                self.store.mark_used(ids, None)
                return None
            job, held_back = self._create_job(model, corrections, training)
        except BaseException:
            self.store.mark_used(ids, None)
            raise
        self.store.mark_used(ids, job.id, held_back)
        return job

    def _create_job(
        self, model: str, corrections: list[Correction], training: CorrectionTraining
    ) -> tuple[FineTuningJob, list[str]]:
        """The job on ``corrections`` and the ids of those it holds back."""
        seed = training.seed if training.seed is not None else len(corrections)
        earlier = self.store.held_back(self.namespace, model)
        utterances = {c.id: self._utterance(c) for c in corrections}
        train, held = split_dataset(list(utterances.values()), HELD_BACK_SHARE, seed)
        held_ids = [i for i, utterance in utterances.items() if utterance in held]
        name, suffix, current = self._lineage(model)
        dataset = DatasetFiles(self.services, self.namespace).add(
            io.BytesIO(_dataset_zip(train)), f"corrections-{len(train)}.zip", FILE_PURPOSE
        )
        request = FineTuningRequest(
            model=current,
            training_file=dataset.id,
            suffix=suffix,
            seed=seed,
            n_epochs=training.n_epochs,
            training_method=training.training_method,
            layers=training.layers,
            max_steps=training.max_steps,
            learning_rate=training.learning_rate,
            metadata={
                "corrections": str(len(corrections)),
                "corrects": model,
                "judged_on": str(len(earlier) + len(held)),
            },
            discard_training_file=True,
        )
        judge = [self._utterance(c) for c in earlier] + held
        review = review_promotion(self.services, self.fine_tuning, name, current, judge)
        return self.fine_tuning.create_job(request, review), held_ids

    def _check_model(self, model: str) -> str:
        """The id corrections of ``model`` are kept under: an alias (``tiny.en``) gives the
        model it names, an ``ft:`` name stays as given (its lineage is followed at training).
        404 unless it is an ASR model this namespace may fine-tune."""
        services = self.services
        base_folder(
            services.registry,
            FineTuningStore(services.db),
            services.artifacts,
            services.settings,
            model,
            self.namespace,
        )
        if model.startswith(FINE_TUNED_PREFIX):
            return model
        return services.registry.get(model, task="asr").id

    def _utterance(self, correction: Correction) -> Utterance:
        path = self.services.artifacts.fetch(correction_key(correction.id))
        return Utterance(path, correction.text, correction.speaker)

    def _lineage(self, model: str) -> tuple[str, str, str]:
        """(name, suffix, current): the fine-tuned name the new version joins, and the model
        it starts from: the name's production version, else a fine-tuned model's served
        version or a bundled model itself."""
        registry = self.services.registry
        spec = registry.get(model, task="asr")
        if spec.id.startswith(FINE_TUNED_PREFIX):
            name = spec.id.rsplit(":", 1)[0]
            suffix = name.rsplit(":", 1)[1]
        else:
            suffix = f"{self.namespace}-corrections"[-40:].lstrip("-._")
            name = f"{FINE_TUNED_PREFIX}{spec.id}:{suffix}"
        versions = FineTuningStore(self.services.db).models(self.namespace, name)
        production = [v for v in versions if v.stage == "production"]
        if production:
            return name, suffix, production[0].ref
        return name, suffix, spec.id


def _dataset_zip(utterances: list[Utterance]) -> bytes:
    """A fine-tuning dataset zip (``manifest.csv`` and the clips) of ``utterances``."""
    buffer, manifest = io.BytesIO(), io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["audio", "text", "speaker"])
    with zipfile.ZipFile(buffer, "w") as archive:
        for utterance in utterances:
            name = Path(utterance.audio).name
            archive.write(utterance.audio, name)
            writer.writerow([name, utterance.text, utterance.speaker or ""])
        archive.writestr("manifest.csv", manifest.getvalue())
    return buffer.getvalue()
