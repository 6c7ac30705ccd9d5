"""``run_training`` end to end on real digits: the refit on every clip after early stopping."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tests.conftest import EVAL_DIR
from tympan.tasks.classifiers.dataset import load_dataset
from tympan.tasks.classifiers.features import FeatureCache
from tympan.tasks.classifiers.pipeline import run_training
from tympan.tasks.classifiers.train import TrainConfig
from tympan.tasks.classifiers.versions import StoredEmbeddings

FSDD = EVAL_DIR / "fsdd" / "audio"
TINY = TrainConfig(arch="cnn", max_epochs=3, patience=3, augment_copies=0)


def _manifest(root: Path) -> Path:
    """Digits 0-2 of three speakers, 4 clips each (copied in), with the speaker column."""
    lines = ["path,label,speaker"]
    root.mkdir(parents=True)
    for speaker in ("george", "jackson", "theo"):
        for digit in "012":
            for index in range(4):
                name = f"{digit}_{speaker}_{index}.flac"
                shutil.copyfile(FSDD / name, root / name)
                lines.append(f"{name},{digit},{speaker}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root / "manifest.csv"


def test_refit_serves_a_network_trained_on_every_clip(tmp_path) -> None:
    dataset = load_dataset(_manifest(tmp_path / "data"))
    cache = FeatureCache(tmp_path / "cache")
    runs = {
        refit: run_training(
            dataset,
            TrainConfig(**{**TINY.to_dict(), "refit": refit}),
            tmp_path / f"version-{refit}",
            cache,
            None,
            60.0,
            lambda *_: None,
        )
        for refit in (False, True)
    }
    kept, refit = runs[False], runs[True]
    # The validation figures are the early-stopped network's in both runs (same seed, split).
    assert kept.metrics["split"] == refit.metrics["split"] == "speaker-disjoint"
    assert kept.evaluation.to_dict() == refit.evaluation.to_dict()
    assert refit.context["best_epoch"] == kept.context["best_epoch"]
    # What is served is another network: trained on all 36 clips for the chosen epochs.
    graphs = [(run.folder / "model.onnx").read_bytes() for run in (kept, refit)]
    assert graphs[0] != graphs[1]
    note = refit.metrics["served_network"]
    assert note.startswith(f"refit on all 36 examples for {kept.context['best_epoch']} epochs")
    assert "served_network" not in kept.metrics
    stored = StoredEmbeddings.load(refit.folder / "embeddings.npz")
    assert stored.values.shape[0] == 36 and np.isfinite(stored.values).all()
