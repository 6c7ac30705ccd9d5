"""Speech page: text in, a voice speaks it while it streams; the download is real speech."""

from __future__ import annotations

import pytest
from selenium.webdriver.support.select import Select

from tests.console.driver import Console
from tests.live_audio import wer
from tympan.client import Client

SENTENCE = "The quick brown fox jumps over the lazy dog."


@pytest.mark.parametrize("audio_format", ["mp3", "wav"])
def test_typed_text_is_spoken_and_played(
    console: Console, console_url: str, audio_format: str, tmp_path
) -> None:
    console.open("speech")
    text = console.find("main textarea[name=input]")
    text.clear()
    text.send_keys(SENTENCE)
    voices = Select(console.find("main select[name=voice]"))
    assert voices.first_selected_option.text.startswith("joe")
    Select(console.find("main select[name=response_format]")).select_by_value(audio_format)
    console.submit("main form")
    status = console.wait_text(".speech-status", f"bytes of {audio_format}", timeout=120)
    assert status.startswith("joe")
    console.wait_until(
        lambda: console.browser.execute_script(
            "return document.querySelector('audio').currentTime > 0"
        ),
        20,
    )
    assert console.find("main a.button").get_attribute("download") == f"speech.{audio_format}"
    spoken = tmp_path / f"speech.{audio_format}"
    spoken.write_bytes(console.fetch_bytes(console.find("main a.button").get_attribute("href")))
    with Client(console_url) as client:
        heard = client.transcribe(spoken).text
    # Piper samples its voice with noise, so one word may come out differently from run to run.
    assert wer(SENTENCE, heard) < 0.2, heard
    console.browser.execute_script("document.querySelector('audio').pause()")
    console.snap(f"speech-{audio_format}")
