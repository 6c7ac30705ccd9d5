"""Speakers page: enroll from files and from the microphone, list, verify, identify, rename,
delete."""

from __future__ import annotations

import time

from tests.console.driver import Console
from tests.speaker_data import utterances


def _speaker_names(console: Console) -> list[str]:
    return [cell.text for cell in console.find_all(".speaker-name")]


def _delete(console: Console, name: str) -> None:
    """Delete ``name`` from its row, confirm, and wait until the list no longer shows it."""
    row = next(r for r in console.find_all("main tbody tr") if name in r.text)
    row.find_element("css selector", "button.danger").click()
    console.browser.switch_to.alert.accept()
    console.wait_until(lambda: name not in _speaker_names(console), 30)


def test_enroll_verify_identify_and_delete_real_voices(console: Console) -> None:
    voices = utterances()
    first, second = sorted(voices)[:2]
    console.open("speakers")

    enroll = "main form"  # the first form of the page
    console.find(f"{enroll} input[name=name]").send_keys("Marcus")
    console.choose_files(enroll, "file", *voices[first][:3])
    console.submit(enroll)
    console.wait_until(lambda: "Marcus" in _speaker_names(console), 120)
    assert console.error_text() == ""

    def marcus_samples() -> str:
        row = next(r for r in console.find_all("main tbody tr") if "Marcus" in r.text)
        return row.find_elements("css selector", "td")[1].text

    assert marcus_samples() == "3"
    console.find(f"{enroll} input[name=name]").send_keys("marcus")  # names ignore case
    console.choose_files(enroll, "file", voices[second][1])
    console.submit(enroll)
    assert "HTTP 409" in console.wait_text("#error", "HTTP 409", timeout=60)
    assert _speaker_names(console).count("Marcus") == 1
    console.find(f"{enroll} input[name=name]").clear()
    row = next(r for r in console.find_all("main tbody tr") if "Marcus" in r.text)
    row.find_element("css selector", "input[type=file]").send_keys(str(voices[first][3]))
    console.wait_until(lambda: marcus_samples() == "4", 120)

    forms = console.find_all("main form")
    verify, identify = forms[1], forms[2]
    verify.find_element("css selector", "input[name=file]").send_keys(str(voices[first][4]))
    verify.find_element("css selector", "input[name=file2]").send_keys(str(voices[first][5]))
    verify.find_element("css selector", "button[type=submit]").click()
    assert console.wait_text(".verify-result", "speaker", timeout=120).startswith("Same speaker")
    verify.find_element("css selector", "input[name=file2]").send_keys(str(voices[second][0]))
    verify.find_element("css selector", "button[type=submit]").click()
    assert console.wait_text(".verify-result", "Different speakers", timeout=120)

    identify.find_element("css selector", "input[name=file]").send_keys(str(voices[first][6]))
    identify.find_element("css selector", "button[type=submit]").click()
    answer = console.wait_text(".identify-result", "Closest voices", timeout=120)
    assert answer.splitlines()[0] == "Marcus"
    console.snap("speakers")

    row = next(r for r in console.find_all("main tbody tr") if "Marcus" in r.text)
    row.find_element("css selector", "button[aria-label='Rename Marcus']").click()
    prompt = console.browser.switch_to.alert
    prompt.send_keys("Marcus Aurelius")
    prompt.accept()
    console.wait_until(lambda: "Marcus Aurelius" in _speaker_names(console), 30)
    identify.find_element("css selector", "input[name=file]").send_keys(str(voices[first][7]))
    identify.find_element("css selector", "button[type=submit]").click()
    console.wait_text(".identify-result", "Marcus Aurelius", timeout=120)

    _delete(console, "Marcus Aurelius")


def test_enroll_from_the_microphone(console: Console) -> None:
    """The fake capture device plays Diane's turns of the pyannote sample."""
    console.open("speakers")
    console.find("main form input[name=name]").send_keys("Microphone voice")
    console.click_button("Record from microphone")
    time.sleep(4)
    console.click_button("Stop recording")
    assert "1 microphone take(s) ready" in console.wait_text("main form", "take(s) ready", 10)
    console.submit("main form")
    console.wait_until(lambda: "Microphone voice" in _speaker_names(console), 120)
    row = next(r for r in console.find_all("main tbody tr") if "Microphone voice" in r.text)
    cells = row.find_elements("css selector", "td")
    minutes, seconds = cells[2].text.split(":")
    assert cells[1].text == "1" and 2.0 <= 60 * int(minutes) + float(seconds) <= 6.0
    _delete(console, "Microphone voice")
