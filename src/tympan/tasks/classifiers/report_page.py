"""A version's evaluation report as one HTML page: summary, curves, confusion matrix,
per-class table, and the misclassified validation clips to listen to.

The page is rendered from ``report.json`` when asked for, so every stored version gets one;
images and clips are linked from ``base`` (the version's URL), not embedded.
"""

from __future__ import annotations

from html import escape
from typing import Any

from tympan.tasks.classifiers.evaluate import branch_rows, branch_summary

__all__ = ["report_html"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .6rem}"
    "td.n{text-align:right}img{max-width:100%}"
)


def _summary(report: dict[str, Any]) -> list[str]:
    evaluation, split = report["evaluation"], report["split"]
    items = [
        f"accuracy <b>{evaluation['accuracy']:.4f}</b>, macro-F1 "
        f"<b>{evaluation['macro_f1']:.4f}</b> on {evaluation['examples']} validation examples",
        f"split: {escape(split['method'])} ({split['train']} train, {split['validation']} "
        f"validation)",
    ]
    if split.get("validation_speakers"):
        items.append("validation speakers: " + escape(", ".join(split["validation_speakers"])))
    items += [f"{escape(str(k))}: {escape(str(v))}" for k, v in report.get("notes", {}).items()]
    return ["<ul>", *(f"<li>{item}</li>" for item in items), "</ul>"]


def _class_table(evaluation: dict[str, Any]) -> list[str]:
    rows = [
        f"<tr><td>{escape(row['label'])}</td><td class=n>{row['precision']:.3f}</td>"
        f"<td class=n>{row['recall']:.3f}</td><td class=n>{row['f1']:.3f}</td>"
        f"<td class=n>{row['support']}</td></tr>"
        for row in evaluation["per_class"]
    ]
    header = "<tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
    return ["<h2>Per class</h2>", "<table>", header, *rows, "</table>"]


def _branches(branches: dict[str, Any]) -> list[str]:
    """Audio only, text only and fused validation accuracy of a multimodal version."""
    return [
        "<h2>Multimodal: audio and transcript</h2>",
        f"<p>{escape(branch_summary(branches))}.</p>",
        "<table><tr><th>branch</th><th>validation accuracy</th></tr>",
        *(
            f"<tr><td>{name}</td><td class=n>{value}</td></tr>"
            for name, value in branch_rows(branches)
        ),
        "</table>",
    ]


def _misclassified(report: dict[str, Any], base: str) -> list[str]:
    clips = report.get("misclassified", [])
    if not clips:
        return ["<h2>Misclassified</h2>", "<p>No misclassified clips kept with this version.</p>"]
    rows = [
        f"<tr><td>{escape(clip['source'])}</td><td>{escape(clip['label'])}</td>"
        f"<td>{escape(clip['predicted'])}</td><td><audio controls preload=none "
        f'src="{escape(base)}misclassified/{index}"></audio></td></tr>'
        for index, clip in enumerate(clips)
    ]
    header = "<tr><th>clip</th><th>true</th><th>predicted</th><th>listen</th></tr>"
    return ["<h2>Misclassified</h2>", "<table>", header, *rows, "</table>"]


def report_html(report: dict[str, Any], base: str) -> str:
    """The HTML page of a version's ``report`` (``report.json``); ``base`` ends with ``/``."""
    title = escape(f"{report['ref']} ({report['arch']})")
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>",
        *_summary(report),
    ]
    if report.get("curves"):
        parts.append(f'<h2>Training curves</h2><img alt="training curves" src="{base}curves.png">')
    parts.append(f'<h2>Confusion matrix</h2><img alt="confusion matrix" src="{base}confusion.png">')
    if "multimodal" in report:
        parts += _branches(report["multimodal"])
    parts += _class_table(report["evaluation"])
    parts += _misclassified(report, base)
    parts.append("</body></html>")
    return "\n".join(parts)
