"""Enhance page: a noisy recording in, the cleaned one playable and downloadable."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.support.select import Select

from tests.console.driver import Console
from tests.noisy_audio import noisy_speech
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio
from tympan.tasks.enhancement.snr import si_sdr


def test_noisy_speech_comes_back_cleaner(console: Console, tmp_path: Path) -> None:
    noisy, clean = noisy_speech(0.0)
    upload = tmp_path / "cafe.wav"
    upload.write_bytes(encode_audio(noisy, 16_000, "wav"))
    console.open("enhance")
    models = Select(console.find("main select[name=model]"))
    assert {o.get_attribute("value") for o in models.options} >= {"deepfilternet3", "rnnoise"}
    models.select_by_value("rnnoise")
    Select(console.find("main select[name=response_format]")).select_by_value("wav")
    console.choose_files("main form", "file", upload)
    console.submit("main form")
    status = console.wait_text(".enhance-status", "bytes of wav", timeout=120)
    assert status.startswith("rnnoise")
    link = console.find("main a.button")
    assert link.get_attribute("download") == "cafe.enhanced.wav"
    result = tmp_path / "cafe.enhanced.wav"
    result.write_bytes(console.fetch_bytes(link.get_attribute("href")))
    enhanced = decode_audio(result).samples[: clean.shape[0]]
    assert si_sdr(clean, enhanced) > si_sdr(clean, noisy) + 3
    assert console.browser.execute_script("return document.querySelector('audio.after').src")
    console.snap("enhance")
