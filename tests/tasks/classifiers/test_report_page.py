"""The HTML report page: every section, links under the version's URL, labels escaped."""

from __future__ import annotations

import numpy as np

from tympan.tasks.classifiers.evaluate import evaluate
from tympan.tasks.classifiers.report_page import report_html

BASE = "/v1/classifiers/c/versions/3/"


def _report(curves: bool, misclassified: list[dict[str, str]]) -> dict:
    labels = ["yes", "<script>alert(1)</script>"]
    evaluation = evaluate(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), labels)
    return {
        "ref": "c:3",
        "arch": "transfer",
        "evaluation": evaluation.to_dict(),
        "curves": {"validation_loss": [1.0, 0.5]} if curves else {},
        "split": {"method": "stratified", "train": 12, "validation": 4},
        "notes": {"training_seconds": 1.5},
        "misclassified": misclassified,
    }


def test_page_has_every_section_and_escapes_labels() -> None:
    clip = {"file": "misclassified-0.wav", "source": "yes/a&b.wav", "label": "yes",
            "predicted": "<script>alert(1)</script>"}  # fmt: skip
    page = report_html(_report(True, [clip]), BASE)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "yes/a&amp;b.wav" in page
    assert f'src="{BASE}curves.png"' in page and f'src="{BASE}confusion.png"' in page
    assert f'<audio controls preload=none src="{BASE}misclassified/0">' in page
    assert "accuracy <b>0.7500</b>" in page and "training_seconds: 1.5" in page
    assert page.count("<tr>") == 1 + 2 + 1 + 1  # class header + 2 classes, clip header + 1


def test_page_without_curves_or_mistakes() -> None:
    page = report_html(_report(False, []), BASE)
    assert "curves.png" not in page and "<audio" not in page
    assert "No misclassified clips" in page
