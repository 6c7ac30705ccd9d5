"""Transcribe page: a real two-person call, enrolled names, timeline, words, downloads."""

from __future__ import annotations

from tests.conftest import EVAL_DIR
from tests.console.driver import Console
from tests.speaker_data import DIARIZATION_DIR


def test_transcript_names_the_speakers_and_follows_the_audio(
    console: Console, enrolled: None
) -> None:
    console.open("transcribe")
    console.choose_files("main form", "file", DIARIZATION_DIR / "sample.wav")
    assert "sample.wav" in console.find(".file-chosen").text
    console.submit("main form")
    transcript = console.wait_text(".transcript", "New Jersey", timeout=240)
    assert "Diane" in transcript and "Sheila" in transcript
    assert "Chicago" in transcript
    diane_lines = [p.text for p in console.find_all(".segment") if p.text.startswith("Diane")]
    assert any("New Jersey" in line for line in diane_lines), diane_lines
    timeline = [name.text for name in console.find_all(".timeline-name")]
    assert {"Diane", "Sheila"} <= set(timeline)
    assert len(console.find_all(".timeline .turn")) >= 4

    # Playing from a word highlights the words as they are spoken.
    words = console.find_all(".word")
    assert len(words) > 40
    target = next(word for word in words if "Jersey" in word.text)
    target.click()
    console.wait_for(".word.spoken", timeout=20)
    spoken_at = float(console.find(".word.spoken").get_attribute("data-start"))
    assert spoken_at >= float(target.get_attribute("data-start")) - 0.01

    links = {link.text: link for link in console.find_all("main a.button")}
    assert set(links) == {"Download SRT", "Download VTT", "Download JSON"}
    assert links["Download SRT"].get_attribute("download") == "sample.srt"
    srt = console.fetch_bytes(links["Download SRT"].get_attribute("href")).decode()
    assert srt.startswith("1\n00:00:") and "Diane: " in srt and " --> " in srt
    vtt = console.fetch_bytes(links["Download VTT"].get_attribute("href")).decode()
    assert vtt.startswith("WEBVTT") and "<v Sheila>" in vtt
    console.browser.execute_script("document.querySelector('audio').pause()")
    console.snap("transcribe")


def test_a_dropped_file_without_speakers_streams_its_transcript(console: Console) -> None:
    console.open("transcribe")
    console.drop_file("main .drop-zone", EVAL_DIR / "asr_ljspeech" / "LJ001-0001.flac")
    assert console.find(".file-chosen").text == "LJ001-0001.flac"
    console.find("#diarize").click()  # off: the streamed form of the endpoint
    console.submit("main form")
    transcript = console.wait_text(".transcript", "Exhibition", timeout=120)
    assert "printing" in transcript.lower() and "arts and crafts" in transcript.lower()
    assert console.find_all(".speaker") == [] and console.find_all(".timeline") == []
    assert not console.find("main progress").is_displayed()
