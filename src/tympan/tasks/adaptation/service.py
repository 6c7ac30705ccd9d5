"""``FineTuningService``: fine-tuning jobs over one running service's parts.

A job runs on the service's ``JobRunner`` (a heartbeat lease, a work folder) and calls the
training through ``runner``: unpack the training file (and the validation
file, else split the training set), read the manifests, fine-tune, then publish the model
``ft:<base>:<suffix>:<N>`` (artifacts first, the database's row last) and register it, so it
serves by name at once. Progress becomes events: a message per stage, metrics per step.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tympan.config import DEFAULT_NAMESPACE
from tympan.errors import InvalidParameter, Overloaded, ResourceNotFound
from tympan.store.finetuning import (
    DISCARD_OPTION,
    FineTunedModel,
    FineTuningEvent,
    FineTuningJob,
    FineTuningJobRow,
    FineTuningStore,
    Stage,
    new_fine_tuning_id,
)
from tympan.store.jobs import sticky_check
from tympan.tasks.adaptation.models import (
    base_folder,
    model_key,
    model_name,
    register_name,
)
from tympan.tasks.adaptation.uploads import DatasetFiles, unpack_dataset

if TYPE_CHECKING:
    from tympan.api.services import Services
    from tympan.store.jobs import Progress
    from tympan.tasks.adaptation.dataset import Utterance
    from tympan.tasks.adaptation.finetune import FinetuneOptions, FinetuneResult
    from tympan.tasks.adaptation.runner import FinetuneProgress

__all__ = ["FineTuningRequest", "FineTuningService"]

JOB_KIND = "asr-fine-tuning"
Review = Callable[[str, FineTunedModel], dict[str, Any]]
"""What runs after a job published its model: (job id, model) -> more of the job's result."""
_SUFFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_STOP_POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class FineTuningRequest:
    """What a client asks for: OpenAI's fields, then Tympan's choices of method and data."""

    model: str
    training_file: str
    validation_file: str | None = None
    suffix: str | None = None
    seed: int | None = None
    n_epochs: int | None = None
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None
    training_method: Literal["lora", "top_layers", "full"] = "lora"
    layers: Literal["decoder", "top_encoder", "all"] | None = None  # None: the task default
    augment: tuple[str, ...] = ()
    lora_rank: int | None = None
    max_steps: int | None = None
    learning_rate: float | None = None
    validation_share: float = 0.1
    language: str = "en"
    metadata: dict[str, str] | None = None
    discard_training_file: bool = False  # made for this job alone: deleted once unpacked

    def options(self, seed: int, noise_dir: Path | None) -> FinetuneOptions:
        """The adaptation task's options (its defaults where the request left a choice);
        400 naming a choice out of range."""
        from tympan.tasks.adaptation.runner import finetune_options

        return finetune_options(
            self.training_method,
            self.layers,
            self.augment,
            seed,
            epochs=self.n_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            learning_rate_multiplier=self.learning_rate_multiplier,
            lora_rank=self.lora_rank,
            max_steps=self.max_steps,
            language=self.language,
            noise_dir=noise_dir,
        )


class FineTuningService:
    """Fine-tuning jobs of one namespace (the caller's API key's); another namespace's ids
    are unknown (404)."""

    def __init__(self, services: Services, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.services = services
        self.namespace = namespace
        self.files = DatasetFiles(services, namespace)
        self.store = FineTuningStore(services.db)

    # -- jobs -----------------------------------------------------------------------------

    def create_job(self, request: FineTuningRequest, review: Review | None = None) -> FineTuningJob:
        """Check the request (404 unknown model or file, 400 bad choices), then queue the job;
        ``review`` runs on the published model and adds to the job's result (promotion)."""
        services = self.services
        base, _ = base_folder(
            services.registry,
            self.store,
            services.artifacts,
            services.settings,
            request.model,
            self.namespace,
        )
        suffix = request.suffix or self.namespace
        if not _SUFFIX.match(suffix):
            raise InvalidParameter(
                "suffix must be 1-40 letters, digits, '.', '_' or '-', starting with a letter or "
                "digit.",
                param="suffix",
            )
        self.store.check_name(model_name(base, suffix), self.namespace)
        files = [("training_file", request.training_file)]
        if request.validation_file:
            files.append(("validation_file", request.validation_file))
        for param, file_id in files:
            try:
                self.files.get(file_id)
            except ResourceNotFound as exc:
                raise ResourceNotFound(exc.message, param=param) from None
        seed = request.seed if request.seed is not None else int(time.time()) % 2**31
        options = request.options(seed, services.settings.adaptation_noise_dir)
        fine_tuning_id = new_fine_tuning_id()
        hyperparameters = {
            "n_epochs": options.epochs,
            "batch_size": options.batch_size,
            "learning_rate_multiplier": request.learning_rate_multiplier or 1.0,
        }
        self.store.add(
            FineTuningJobRow(
                id=fine_tuning_id,
                namespace=self.namespace,
                model=request.model,
                training_file=request.training_file,
                validation_file=request.validation_file,
                suffix=suffix,
                seed=seed,
                hyperparameters=hyperparameters,
                options={
                    "training_method": options.method,
                    "layers": options.layers,
                    "augment": sorted(options.augment),
                    "lora_rank": options.lora_rank,
                    "max_steps": options.max_steps,
                    "learning_rate": options.learning_rate,
                    "validation_share": request.validation_share,
                    "language": options.language,
                    **({"metadata": request.metadata} if request.metadata else {}),
                    **({DISCARD_OPTION: True} if request.discard_training_file else {}),
                },
                phase="validating_files",
            )
        )
        work = services.jobs.new_work_folder()

        def job(progress: Progress) -> dict[str, Any]:
            return self._run(fine_tuning_id, request, base, suffix, options, work, progress, review)

        params = {"namespace": self.namespace, "model": request.model, "suffix": suffix}
        services.jobs.submit(JOB_KIND, job, params, work_folder=work, job_id=fine_tuning_id)
        self.store.add_event(fine_tuning_id, f"Created fine-tuning job: {fine_tuning_id}")
        return self.get_job(fine_tuning_id)

    def get_job(self, fine_tuning_id: str) -> FineTuningJob:
        """A job of the namespace; 404 otherwise."""
        return self.store.get(fine_tuning_id, self.namespace)

    def list_jobs(self, after: str | None, limit: int) -> tuple[list[FineTuningJob], bool]:
        """A page of the namespace's jobs, newest first."""
        return self.store.list(self.namespace, after, limit)

    def cancel_job(self, fine_tuning_id: str) -> FineTuningJob:
        """Cancel a queued or running job (409 once it ended); it publishes nothing."""
        cancelled = self.store.cancel(fine_tuning_id, self.namespace)
        self.store.add_event(fine_tuning_id, "Fine-tuning job cancelled.", level="warn")
        if cancelled.options.get(DISCARD_OPTION):
            self._discard(cancelled.training_file)  # a queued job never unpacks it
        return cancelled

    def report(self, fine_tuning_id: str) -> dict[str, Any]:
        """The report of the model a job published (WER before/after, curves); 404 before."""
        published = self.get_job(fine_tuning_id).fine_tuned_model
        if published is None:
            raise ResourceNotFound(
                f"Fine-tuning job {fine_tuning_id!r} has published no model.",
                param="fine_tuning_job_id",
            )
        name, version = published.rsplit(":", 1)
        return self.store.model(name, int(version)).report

    def events(
        self, fine_tuning_id: str, after: int | None, limit: int
    ) -> tuple[list[FineTuningEvent], bool]:
        """A page of a job's events, newest first."""
        self.get_job(fine_tuning_id)  # 404 outside the namespace
        return self.store.events(fine_tuning_id, after, limit)

    # -- published models -----------------------------------------------------------------

    def versions(self, name: str) -> list[FineTunedModel]:
        """Every published version of the namespace's ``name`` (404 if none), oldest first."""
        versions = self.store.models(self.namespace, name)
        if not versions:
            raise ResourceNotFound(f"No fine-tuned model named {name!r}.", param="name")
        return versions

    def promote(self, name: str, version: int, stage: Stage) -> FineTunedModel:
        """Move a version to ``stage``; the bare name follows the production version."""
        promoted = self.store.promote(name, version, stage, self.namespace)
        self._register(name)
        return promoted

    def rollback(self, name: str) -> FineTunedModel:
        """Restore the previous production version of ``name`` (409 if none)."""
        restored = self.store.rollback(name, self.namespace)
        self._register(name)
        return restored

    def _register(self, name: str) -> None:
        services = self.services
        register_name(services.registry, self.store, services.artifacts, services.settings, name)

    # -- the job's work -------------------------------------------------------------------

    def _run(
        self,
        fine_tuning_id: str,
        request: FineTuningRequest,
        base: str,
        suffix: str,
        options: FinetuneOptions,
        work: Path,
        progress: Progress,
        review: Review | None,
    ) -> dict[str, Any]:
        from tympan.tasks.adaptation import runner

        services = self.services
        events = self.store
        jobs = services.jobs
        should_stop = sticky_check(
            lambda: jobs.closing or jobs.ended(fine_tuning_id), _STOP_POLL_SECONDS
        )
        try:
            events.add_event(fine_tuning_id, "Validating training file.")
            training_folder = self._unpack(request.training_file, work / "train")
            if request.discard_training_file:
                self._discard(request.training_file)
            train, validation = runner.read_datasets(
                training_folder,  # type: ignore[arg-type]
                self._unpack(request.validation_file, work / "validation"),
                request.validation_share,
                options.seed,
            )
            events.add_event(
                fine_tuning_id,
                f"Files validated: {len(train)} training and {len(validation)} validation "
                "utterances.",
            )
            events.set_phase(fine_tuning_id, "running")
            _, base_path = base_folder(
                services.registry,
                events,
                services.artifacts,
                services.settings,
                request.model,
                self.namespace,
            )

            def on_progress(step: FinetuneProgress) -> None:
                if should_stop():
                    return  # cancelled: the run stops at its next check
                progress(step.step / max(step.total_steps, 1), step.message)
                metrics = {
                    "step": step.step,
                    "total_steps": step.total_steps,
                    "train_loss": step.train_loss,
                    "valid_wer": step.valid_wer,
                }
                has_metrics = step.train_loss is not None or step.valid_wer is not None
                events.add_event(fine_tuning_id, step.message, metrics if has_metrics else None)

            events.add_event(fine_tuning_id, "Fine-tuning job started.")
            result = self._train(
                base_path, train, validation, options, work / "result", on_progress, should_stop
            )
            if services.jobs.ended(fine_tuning_id):
                return {}  # cancelled at the last moment: nothing is published
            published = self._publish(
                fine_tuning_id,
                base,
                suffix,
                result.serving_dir,
                result.training_dir,
                result.report,
            )
        except Exception as exc:
            if jobs.ended(fine_tuning_id):
                raise  # cancelled: the job keeps that state
            failure: Exception = exc
            if jobs.closing:  # the task stopped because the server is going away
                failure = Overloaded(
                    "The server shut down while this job ran; submit it again.",
                    code="interrupted",
                )
            message = getattr(failure, "message", None) or f"{type(exc).__name__}: {exc}"
            events.add_event(fine_tuning_id, f"Fine-tuning failed: {message}", level="error")
            if failure is exc:
                raise
            raise failure from exc
        events.add_event(fine_tuning_id, f"New fine-tuned model created: {published.ref}")
        reviewed = review(fine_tuning_id, published) if review else {}
        events.add_event(fine_tuning_id, "The job has successfully completed.")
        return {"fine_tuned_model": published.ref, "steps": result.steps, **reviewed}

    def _train(
        self,
        base: Path,
        train: list[Utterance],
        validation: list[Utterance],
        options: FinetuneOptions,
        out: Path,
        progress: Callable[[FinetuneProgress], None],
        should_stop: Callable[[], bool],
    ) -> FinetuneResult:
        """The training run: here, or as a Ray task reserving ``TYMPAN_RAY_TRAINING_CPUS``
        when the service runs on Ray (its steps and a cancel still reach it)."""
        from tympan.tasks.adaptation import runner

        remote = self.services.remote_tasks
        if remote is None:
            return runner.finetune(base, train, validation, options, out, progress, should_stop)
        result, files = remote.run(
            runner.finetune_elsewhere,
            *runner.ship_inputs(base, train, validation, options),
            num_cpus=self.services.settings.ray_training_cpus,
            progress=progress,
            should_stop=should_stop,
        )
        files.unpack(out)
        return replace(
            result,
            serving_dir=out / result.serving_dir,
            training_dir=out / result.training_dir,
        )

    def _unpack(self, file_id: str | None, target: Path) -> Path | None:
        """The folder a dataset file unpacks to (its manifest's), or None without a file."""
        if file_id is None:
            return None
        return unpack_dataset(self.files.path(file_id), target, self.files.limits)

    def _discard(self, file_id: str) -> None:
        """Delete a file the service made for one job (a corrections batch's zip): the
        corrections keep the audio, so the copy in ``/v1/files`` would only pile up."""
        with contextlib.suppress(ResourceNotFound):  # gone: unpacked, or cancelled before
            self.files.delete(file_id)

    def _publish(
        self,
        fine_tuning_id: str,
        base: str,
        suffix: str,
        serving: Path,
        training: Path,
        report: dict[str, Any],
    ) -> FineTunedModel:
        """Number the model, move its folders in, record it; all or nothing. Registered after."""
        services = self.services
        artifacts = services.artifacts
        name = model_name(base, suffix)
        version = self.store.reserve_version(name, self.namespace, base, fine_tuning_id)
        key = model_key((name, version))
        try:
            staged = artifacts.staging_path(key)
            staged.mkdir(parents=True, exist_ok=True)
            shutil.move(str(serving), staged / "serving")
            shutil.move(str(training), staged / "training")
            (staged / "report.json").write_text(json.dumps(report, indent=2, default=str))
            published = self.store.complete_version(
                name, version, lambda: artifacts.publish(key), report
            )
        except BaseException:
            self.store.release_reservation(name, version, lambda: artifacts.delete(key))
            raise
        self._register(name)
        return published
