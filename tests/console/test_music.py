"""Music page: a motif played on the on-screen keys, continued by a trained model, drawn as a
piano roll with a player and downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.support.select import Select

from tests.console.driver import Console
from tympan.client import Client

MODEL = "folk-markov"  # the quickest to train: seconds on the tiny corpus


@pytest.fixture(scope="module")
def trained_music(console_url: str) -> None:
    with Client(console_url) as client:
        assert client.music_train(MODEL)["status"] == "succeeded"


def test_a_motif_is_continued_drawn_and_played(
    console: Console, trained_music: None, tmp_path: Path
) -> None:
    console.open("music")
    for note in ("C4", "E4", "G4", "C5"):
        console.find(f'main .keyboard button[aria-label="Add {note}"]').click()
    assert console.find("main .motif").text == "C4 E4 G4 C5"
    Select(console.find("main select[name=model]")).select_by_value(MODEL)
    for name, value in (("bars", "4"), ("seed", "7")):
        box = console.find(f"main input[name={name}]")
        box.clear()
        box.send_keys(value)
    console.submit("main form")
    summary = console.wait_text(".piece-summary", "notes", timeout=180)
    assert summary.startswith(f"{MODEL}:") and "seed 7" in summary
    notes = int(summary.split(": ")[1].split(" notes")[0])
    roll = console.find_all(".piano-roll rect.note")
    assert len(roll) == notes > 4
    prompt = [rect for rect in roll if rect.get_attribute("fill") == "#9ca3af"]
    assert len(prompt) == 4  # the motif, drawn apart from the continuation
    console.wait_until(
        lambda: console.browser.execute_script(
            "const a = document.querySelector('.music-result audio'); return a.duration > 1;"
        ),
        30,
    )
    links = {link.text: link.get_attribute("href") for link in console.find_all("main a.button")}
    assert set(links) == {"Download MIDI", "Download WAV"}
    midi = console.fetch_bytes(links["Download MIDI"])
    assert midi[:4] == b"MThd"

    # The piece, uploaded as a MIDI prompt, is continued in turn.
    prompt = tmp_path / "prompt.mid"
    prompt.write_bytes(midi)
    console.choose_files("main form", "prompt", prompt)
    console.submit("main form")
    console.wait_until(lambda: console.find(".piece-summary").text != summary, 180)
    longer = console.find_all(".piano-roll rect.note")
    grey = [rect for rect in longer if rect.get_attribute("fill") == "#9ca3af"]
    assert len(grey) == notes and len(longer) > notes
    console.snap("music")
