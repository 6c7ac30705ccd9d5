"""Fine-tuning tiny.en on a few real accented utterances: it learns, serves, stops, resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
from faster_whisper import WhisperModel

from tests.conftest import EVAL_DIR, read_manifest
from tests.tasks.adaptation.conftest import tiny_en_path
from tympan.audio import decode_audio
from tympan.errors import InvalidParameter, JobCancelled
from tympan.tasks.adaptation.dataset import Utterance
from tympan.tasks.adaptation.finetune import (
    FinetuneOptions,
    FinetuneProgress,
    FinetuneResult,
    finetune,
)


def _utterances(count: int, offset: int = 0) -> list[Utterance]:
    rows = [r for r in read_manifest("asr_adapt") if r["split"] == "train"][offset : offset + count]
    return [Utterance(EVAL_DIR / "asr_adapt" / r["audio"], r["text"], r["speaker"]) for r in rows]


TRAIN, VALIDATION = _utterances(4), _utterances(2, offset=40)
QUICK = FinetuneOptions(
    layers="decoder", batch_size=4, max_steps=3, learning_rate=1e-3, eval_every=1, patience=3
)


@pytest.fixture(scope="module")
def run(
    tiny_transformers: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[FinetuneResult, list]:
    """One quick LoRA run from the converted tiny.en, with every progress report it made."""
    reports: list[FinetuneProgress] = []
    work = tmp_path_factory.mktemp("finetune")
    return finetune(tiny_transformers, TRAIN, VALIDATION, QUICK, work, reports.append), reports


def test_loss_goes_down_on_the_training_batch(run) -> None:
    result, reports = run
    losses = result.report["curves"]["train_loss"]
    assert result.steps == 3 and len(losses) == 3
    assert losses[-1] < 0.7 * losses[0]
    steps = [r for r in reports if r.train_loss is not None]
    assert [r.step for r in steps] == [1, 2, 3] and all(r.total_steps == 3 for r in steps)
    validations = [r for r in reports if r.valid_wer is not None]
    assert [r.step for r in validations] == [0, 1, 2, 3]  # the base, then every step
    assert result.report["valid_wer"] == min(result.report["curves"]["valid_wer"])


def test_training_stops_when_validation_stops_improving(tmp_path: Path) -> None:
    """A rate that wrecks the model: the first pass is the best, ``patience`` passes without
    gain end the run long before ``max_steps``, and the best pass's weights are the ones kept."""
    options = FinetuneOptions(
        layers="decoder", batch_size=2, max_steps=12, learning_rate=0.5, eval_every=1, patience=2
    )
    result = finetune(tiny_en_path(), TRAIN, VALIDATION, options, tmp_path)
    curve = result.report["curves"]["valid_wer"]
    assert result.steps == 3 and len(curve) == 3, curve
    assert result.report["best_step"] == 1 and result.report["valid_wer"] == curve[0]
    assert min(curve[1:]) >= curve[0]


def test_validation_runs_every_eval_every_steps_and_at_the_last(tmp_path: Path) -> None:
    options = FinetuneOptions(
        layers="decoder", batch_size=2, max_steps=5, learning_rate=1e-4, eval_every=2, patience=9
    )
    reports: list[FinetuneProgress] = []
    finetune(tiny_en_path(), TRAIN, VALIDATION, options, tmp_path, reports.append)
    assert [r.step for r in reports if r.valid_wer is not None] == [0, 2, 4, 5]


def test_the_result_serves_with_faster_whisper(run) -> None:
    result, _ = run
    assert sorted(p.name for p in result.serving_dir.parent.iterdir()) == ["serving", "training"]
    assert (result.training_dir / "model.safetensors").is_file()
    model = WhisperModel(str(result.serving_dir), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe(decode_audio(VALIDATION[0].audio).samples, beam_size=1)
    assert " ".join(s.text for s in segments).strip()
    report = result.report
    assert len(report["utterances"]) == len(VALIDATION)
    assert {"before", "after", "reference"} <= set(report["utterances"][0])


def test_fine_tuning_continues_from_a_training_dir(run, tmp_path: Path) -> None:
    result, _ = run
    options = FinetuneOptions(method="top_layers", layers="decoder", batch_size=4, max_steps=1)
    again = finetune(result.training_dir, TRAIN, VALIDATION, options, tmp_path)
    assert again.steps == 1 and (again.serving_dir / "model.bin").is_file()


def test_cancelling_raises_and_leaves_nothing(tmp_path: Path) -> None:
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 1  # after the first step

    with pytest.raises(JobCancelled):
        finetune(tiny_en_path(), TRAIN, VALIDATION, QUICK, tmp_path, should_stop=stop)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # full encoder passes (no cache), an adversarial PGD step: ~1 min
def test_every_augmentation_trains(tmp_path: Path) -> None:
    options = FinetuneOptions(
        layers="decoder",
        batch_size=2,
        max_steps=1,
        augment=frozenset({"noise", "speed", "specaugment", "adversarial"}),
        noise_dir=EVAL_DIR / "noise",
        adversarial_steps=2,
    )
    result = finetune(tiny_en_path(), TRAIN[:2], VALIDATION[:1], options, tmp_path)
    assert result.steps == 1 and result.report["augment"] == sorted(options.augment)


@pytest.mark.parametrize(
    ("options", "param"),
    [
        (FinetuneOptions(method="adapters"), "method"),  # type: ignore[arg-type]
        (FinetuneOptions(epochs=0), "epochs"),
        (FinetuneOptions(eval_every=0), "eval_every"),
        (FinetuneOptions(patience=0), "patience"),
        (FinetuneOptions(learning_rate=2.0), "learning_rate"),
        (FinetuneOptions(augment=frozenset({"reverb"})), "augment"),
        (FinetuneOptions(augment=frozenset({"noise"})), "augment"),  # no noise folder
    ],
)
def test_bad_options_are_refused_before_anything_is_written(options, param, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter) as error:
        finetune(tiny_en_path(), TRAIN, VALIDATION, options, tmp_path)
    assert error.value.param == param and error.value.status == 400
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("method", "layers", "lower_encoder_trained"),
    [("lora", "top_encoder", False), ("full", "all", True)],
)
def test_encoder_methods_change_the_encoder_layers_they_train(
    method: str, layers: str, lower_encoder_trained: bool, tiny_transformers: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    options = FinetuneOptions(
        method=method,  # type: ignore[arg-type]
        layers=layers,  # type: ignore[arg-type]
        batch_size=2,
        max_steps=1,
        learning_rate=1e-3,
    )
    result = finetune(tiny_transformers, TRAIN[:2], VALIDATION[:1], options, tmp_path)
    before = load_file(tiny_transformers / "model.safetensors")
    after = load_file(result.training_dir / "model.safetensors")

    def changed(name: str) -> bool:
        return not bool((before[name] == after[name]).all())

    assert changed("model.encoder.layers.3.self_attn.q_proj.weight")
    assert changed("model.decoder.layers.0.fc1.weight")
    assert changed("model.encoder.layers.0.self_attn.q_proj.weight") == lower_encoder_trained
    assert (result.serving_dir / "model.bin").is_file()
