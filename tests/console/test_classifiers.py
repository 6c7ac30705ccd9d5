"""Classifiers page: a zip of real spoken digits trained, reported, tried, updated, staged;
the Jobs page shows the training job."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EVAL_DIR, read_manifest
from tests.console.driver import Console
from tympan.tasks.classifiers.dataset import zip_dataset

FSDD = EVAL_DIR / "fsdd"
SPEAKERS = ("jackson", "theo")


def _clips(digit: str, indices: range) -> list[Path]:
    return [
        FSDD / row["audio"]
        for row in read_manifest("fsdd")
        if row["label"] == digit
        and row["speaker"] in SPEAKERS
        and int(Path(row["audio"]).stem.rsplit("_", 1)[1]) in indices
    ]


def _digits_zip(folder: Path) -> Path:
    """Digits 0 and 1 (6 clips per speaker) as a folder per class, zipped as the API takes it."""
    for digit in ("0", "1"):
        (folder / "data" / digit).mkdir(parents=True)
        for clip in _clips(digit, range(6)):
            (folder / "data" / digit / clip.name).write_bytes(clip.read_bytes())
    archive = folder / "digits.zip"
    archive.write_bytes(zip_dataset(folder / "data"))
    return archive


def _stages(console: Console) -> dict[str, str]:
    """Version -> stage, read in one script so a re-render cannot go stale mid-read."""
    return console.browser.execute_script(
        "const rows = document.querySelectorAll('.classifier-detail table tbody tr');"
        "const cells = (r) => [r.cells[0].innerText, r.cells[1].innerText];"
        "return Object.fromEntries([...rows].map(cells));"
    )


def _images_loaded(console: Console) -> bool:
    return console.browser.execute_script(
        "const imgs = [...document.querySelectorAll('.report img')];"
        "return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 100);"
    )


def test_train_report_try_update_and_stage_a_classifier(console: Console, tmp_path: Path) -> None:
    console.open("classifiers")
    form = "main form"
    console.find(f"{form} input[name=name]").send_keys("digits")
    max_epochs = console.find(f"{form} input[name=max_epochs]")
    max_epochs.clear()
    max_epochs.send_keys("10")
    console.choose_files(form, "dataset", _digits_zip(tmp_path))
    console.submit(form)
    console.wait_text(".job-status", "succeeded", timeout=600)
    console.wait_text(".classifier-detail", "Report of v1", timeout=60)
    console.wait_until(lambda: _images_loaded(console), 30)
    assert "accuracy" in console.find(".report .muted").text
    assert _stages(console)["v1"] in ("none", "production", "staging")

    detail_forms = console.find_all(".classifier-detail form")
    try_form, examples_form = detail_forms
    held_out = _clips("1", range(40, 41))[0]
    try_form.find_element("css selector", "input[name=file]").send_keys(str(held_out))
    try_form.find_element("css selector", "button[type=submit]").click()
    assert console.wait_text(".prediction", "Top labels", timeout=120).startswith("1 (")

    examples_form.find_element("css selector", "input[name=label]").send_keys("2")
    examples_form.find_element("css selector", "input[name=files]").send_keys(
        "\n".join(str(path) for path in _clips("2", range(6)))
    )
    examples_form.find_element("css selector", "button[type=submit]").click()
    console.wait_text(".classifier-detail", "Report of v2", timeout=180)
    assert "v2" in _stages(console)

    console.click_button("Promote", scope=".classifier-detail tbody tr:nth-child(1)")
    console.wait_until(lambda: _stages(console)["v1"] == "production", 30)
    console.click_button("Promote", scope=".classifier-detail tbody tr:nth-child(2)")
    console.wait_until(lambda: _stages(console)["v2"] == "production", 30)
    console.click_button("Roll back production")
    console.wait_until(lambda: _stages(console)["v1"] == "production", 30)
    assert console.error_text() == ""
    console.snap("classifiers")

    console.open("jobs")
    jobs = console.wait_text("main table", "succeeded", timeout=30)
    assert "classifier" in jobs or "train" in jobs
    console.snap("jobs")


def test_a_hostile_dataset_zip_is_refused_with_the_api_message(console: Console) -> None:
    console.open("classifiers")
    console.find("main form input[name=name]").send_keys("bomb")
    console.choose_files("main form", "dataset", EVAL_DIR / "bad_inputs" / "dataset_bomb.zip")
    console.submit("main form")
    banner = console.wait_text("#error", "HTTP 413", timeout=60)
    assert "declares 1073741824 bytes" in banner and "refused before extraction" in banner
    assert "bomb" not in [c.text for c in console.find_all("main table tbody td button")]
