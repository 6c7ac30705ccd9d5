"""Models page: every servable model from /v1/models, with what is loaded and its memory;
unloading and loading one by its button."""

from __future__ import annotations

import httpx

from tests.conftest import EVAL_DIR
from tests.console.driver import Console


def test_models_page_lists_every_model_and_what_is_loaded(
    console: Console, console_url: str
) -> None:
    clip = EVAL_DIR / "asr_ljspeech" / "LJ001-0002.flac"
    httpx.post(  # load one model through the public API, so one row says loaded
        f"{console_url}/v1/audio/vad",
        data={"method": "silero"},
        files={"file": (clip.name, clip.read_bytes(), "audio/flac")},
        timeout=120,
    ).raise_for_status()
    models = httpx.get(f"{console_url}/v1/models").json()["data"]
    console.open("models")
    summary = console.wait_text("main", "model(s) loaded", timeout=30)
    assert "Tympan " in summary
    rows = {
        row.find_element("css selector", "strong").text: row.text
        for row in console.find_all("main tbody tr")
    }
    assert set(rows) == {model["id"] for model in models}
    loaded = [model["id"] for model in models if model["loaded"]]
    assert "silero-vad" in " ".join(loaded)
    for model_id in loaded:
        assert " yes " in f" {rows[model_id]} ".replace("\n", " ")
    console.snap("models")

    def silero_loaded() -> bool:
        return httpx.get(f"{console_url}/v1/models/silero-vad").json()["loaded"]

    console.find("button[aria-label='Unload silero-vad']").click()
    console.wait_until(lambda: not silero_loaded(), 30)
    console.wait_for("button[aria-label='Load silero-vad']").click()
    console.wait_until(silero_loaded, 60)
    console.wait_for("button[aria-label='Unload silero-vad']")
    assert console.error_text() == ""
