"""Live page: Chromium's fake microphone plays Diane's real turns; her words appear, named."""

from __future__ import annotations

from tests.console.driver import Console


def test_microphone_speech_is_transcribed_with_the_speakers_name(
    console: Console, enrolled: None
) -> None:
    console.open("live")
    console.click_button("Start")
    console.wait_text(".live-status", "Listening", timeout=20)
    # the turn's deltas show "New Jersey" in the partial line first; wait for its final line
    console.wait_text(".live-transcript .segment", "New Jersey", timeout=180)
    transcript = console.find(".live-transcript").text
    lines = [line.text for line in console.find_all(".live-transcript .segment")]
    assert any(line.startswith("Diane") and "New Jersey" in line for line in lines), lines
    assert "Sheila" not in transcript
    console.click_button("Stop")
    console.wait_text(".live-status", "Stopped", timeout=60)
    assert console.error_text() == ""
    console.snap("live")
