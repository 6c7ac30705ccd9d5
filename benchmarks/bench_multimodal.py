"""Multimodal classifiers: audio only vs text only vs audio + transcript, where both count.

Task: RAVDESS (``emotion``, 384 clips, 24 actors) labelled **sentence x emotion**, 16 classes
("kids are talking by the door" / "dogs are sitting by the door" x 8 emotions): the words tell
the sentence, the voice tells the emotion. The README's 4 actor-disjoint folds (train on 18
actors, test on the other 6); inside each fold the validation split holds out whole actors.

The clips are transcribed once by the bundled ASR (greedy Whisper tiny.en, as ``multimodal``
training does) and encoded once by the Whisper encoder; per fold, the TF-IDF vocabulary is
fitted on the fold's training transcripts. Rows:

- **audio only**: ``transfer`` on the pooled encoder embedding.
- **text only**: the same head on the transcript's TF-IDF word and char n-grams.
- **multimodal** (what ``arch=multimodal`` serves): both concatenated into one head, the audio
  columns standardised and the text columns as they are.
- **probability fusion** (the alternative that was measured against it): the audio-only and
  text-only networks' log-probabilities, weighted with the weight (0..1 in steps of 0.05) that
  is best on the fold's validation actors.

Seconds: training per fold (early stopping), with the inputs computed; the one-off
transcription and encoding of the 384 clips are given apart. ``BENCH_MULTIMODAL_CACHE``: a
feature cache folder kept between runs (transcripts and embeddings).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table, peak_rss_mb
from tympan.config import Settings
from tympan.models.registry import ModelRegistry
from tympan.models.threads import torch_threads
from tympan.tasks.classifiers.dataset import Dataset, load_dataset
from tympan.tasks.classifiers.evaluate import evaluate
from tympan.tasks.classifiers.features import FeatureCache, WhisperEncoder
from tympan.tasks.classifiers.inputs import PreparedInputs, prepare_inputs
from tympan.tasks.classifiers.text_features import TextFeatures
from tympan.tasks.classifiers.train import TrainConfig, train_network, validation_split
from tympan.tasks.classifiers.transcripts import TRANSCRIPT_MODEL_ID

_SENTENCES = {"01": "kids", "02": "dogs"}  # statement field of the RAVDESS file name
_WEIGHTS = np.linspace(0.0, 1.0, 21)


def _sentence_emotion_dataset(folder: Path) -> Dataset:
    """The emotion set relabelled ``<sentence>-<emotion>``, clips copied beside a manifest."""
    source = EVAL_DIR / "emotion"
    lines = ["path,label,speaker"]
    for example in load_dataset(source / "manifest.csv").examples:
        sentence = _SENTENCES[example.path.stem.split("-")[4]]
        target = folder / example.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(example.path, target)
        lines.append(f"{example.path.name},{sentence}-{example.label},{example.speaker}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return load_dataset(folder / "manifest.csv")


def _prepare(dataset: Dataset, cache: FeatureCache) -> tuple[PreparedInputs, float]:
    settings = Settings(_env_file=None, data_dir=cache.folder / "data")  # type: ignore[call-arg]
    asr = ModelRegistry.from_settings(settings).get(TRANSCRIPT_MODEL_ID, task="asr").load()
    started = time.perf_counter()
    try:
        prepared = prepare_inputs(
            dataset, "multimodal", 0, 0, cache, WhisperEncoder(threads=2), 60.0,
            lambda *_: None, asr=asr,
        )  # fmt: skip
    finally:
        asr.close()
    return prepared, time.perf_counter() - started


def _probabilities(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(inputs)), dim=1).numpy()


def _fold(
    prepared: PreparedInputs,
    targets: np.ndarray,
    actors: np.ndarray,
    test: np.ndarray,
    classes: int,
) -> dict[str, tuple[np.ndarray, float]]:
    """Test-set predictions and training seconds of every row, for one fold."""
    rows = np.flatnonzero(~test)
    split = validation_split(targets[rows], list(actors[rows]), 0.2, 0)
    fit, hold = rows[split.train], rows[split.validation]
    transcripts = prepared.transcripts or []
    text = TextFeatures.fit([transcripts[row] for row in rows])
    columns = {
        "audio only": (prepared.originals, "transfer"),
        "text only": (text.transform(transcripts), "transfer"),
    }
    columns["multimodal"] = (
        np.concatenate([columns["audio only"][0], columns["text only"][0]], axis=1),
        "multimodal",
    )
    results: dict[str, tuple[np.ndarray, float]] = {}
    validation: dict[str, np.ndarray] = {}
    for name, (inputs, arch) in columns.items():
        config = TrainConfig(arch=arch, augment_copies=0)  # type: ignore[arg-type]
        with torch_threads(1):
            trained = train_network(
                inputs[fit], targets[fit], inputs[hold], targets[hold], classes, config
            )
        validation[name] = _probabilities(trained.model, inputs[hold])
        results[name] = (_probabilities(trained.model, inputs[test]), trained.seconds)

    def fused(audio: np.ndarray, words: np.ndarray, weight: float) -> np.ndarray:
        return weight * np.log(audio + 1e-9) + (1 - weight) * np.log(words + 1e-9)

    def validation_accuracy(weight: float) -> float:
        scores = fused(validation["audio only"], validation["text only"], weight)
        return float((scores.argmax(axis=1) == targets[hold]).mean())

    weight = max(_WEIGHTS, key=validation_accuracy)
    late = fused(results["audio only"][0], results["text only"][0], weight)
    seconds = results["audio only"][1] + results["text only"][1]
    results[f"probability fusion (w_audio {weight:.2f})"] = (late, seconds)
    return results


def run() -> str:
    torch.manual_seed(0)
    workdir = Path(tempfile.mkdtemp(prefix="bench-multimodal-"))
    kept = os.environ.get("BENCH_MULTIMODAL_CACHE")
    cache = FeatureCache(Path(kept) if kept else workdir / "cache")
    try:
        dataset = _sentence_emotion_dataset(workdir / "data")
        labels = dataset.labels
        targets = np.array([labels.index(example.label) for example in dataset.examples])
        actors = np.array([example.speaker for example in dataset.examples])
        fold_of = np.array([(int(actor[-2:]) - 1) // 6 for actor in actors])
        prepared, prepare_seconds = _prepare(dataset, cache)
        scores: dict[str, list[tuple[float, float, float]]] = {}
        for fold in range(4):
            test = fold_of == fold
            for name, (probabilities, seconds) in _fold(
                prepared, targets, actors, test, len(labels)
            ).items():
                row = "probability fusion" if name.startswith("probability") else name
                result = evaluate(targets[test], probabilities.argmax(axis=1), labels)
                scores.setdefault(row, []).append((result.accuracy, result.macro_f1, seconds))
        table = markdown_table(
            ["sentence x emotion (16 classes, 4 actor folds)", "accuracy", "macro-F1",
             "per fold", "train s / fold"],
            [
                [
                    row,
                    f"{statistics.mean(a for a, _, _ in folds):.4f}",
                    f"{statistics.mean(f for _, f, _ in folds):.4f}",
                    " / ".join(f"{a:.3f}" for a, _, _ in folds),
                    f"{statistics.mean(s for _, _, s in folds):.1f}",
                ]
                for row, folds in scores.items()
            ],
        )  # fmt: skip
        transcripts = prepared.transcripts or []
        heard = sum("door" in text.lower() for text in transcripts)
        return "\n\n".join(
            [
                table,
                f"Transcripts (greedy tiny.en) and encoder embeddings of the 384 clips: "
                f"{prepare_seconds:.0f} s once (0 when cached); {heard} of {len(transcripts)} "
                f"transcripts contain 'door'. Chance 0.0625. Machine: {machine_load()}; "
                f"peak RSS {peak_rss_mb():.0f} MiB.",
            ]
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
