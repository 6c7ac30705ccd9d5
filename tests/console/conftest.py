"""One real service on loopback and one headless Chromium for every console test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from tests.conftest import make_settings
from tests.speaker_data import DIARIZATION_DIR, SAMPLE_TURNS, write_spans
from tympan.client import Client

try:
    from tests.console.driver import Console, chromium_missing, launch_chromium
except ImportError as exc:  # selenium is a dev extra
    pytest.skip(f"browser tests need selenium ({exc})", allow_module_level=True)

MUSIC_TINY = {"music_model_size": "tiny", "music_corpus_limit": 30, "music_train_seconds": 6.0}


@pytest.fixture(scope="session")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Diane's and Sheila's overlap-free turns of the pyannote sample, one WAV each."""
    folder = tmp_path_factory.mktemp("voices")
    sample = DIARIZATION_DIR / "sample.wav"
    return {name: write_spans(sample, spans, folder / f"{name}.wav")
            for name, spans in SAMPLE_TURNS.items()}  # fmt: skip


@pytest.fixture(scope="session")
def microphone_wav(voices: dict[str, Path]) -> Path:
    """What the fake microphone plays, in a loop: Diane's turns, then a pause, as people talk
    (without the pause a looped file is one endless turn)."""
    rate, samples = scipy.io.wavfile.read(voices["Diane"])
    pause = np.zeros(int(1.5 * rate), dtype=samples.dtype)
    target = voices["Diane"].with_name("microphone.wav")
    scipy.io.wavfile.write(target, rate, np.concatenate([samples, pause]))
    return target


@pytest.fixture(scope="session")
def console_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service (with tiny music settings) on a free loopback port."""
    from tests.live_server import serve_in_thread

    settings = make_settings(tmp_path_factory.mktemp("console"), **MUSIC_TINY)
    with serve_in_thread(settings) as url:
        yield url


@pytest.fixture(scope="session")
def enrolled(console_url: str, voices: dict[str, Path]) -> None:
    """Diane and Sheila enrolled through the public API (the Speakers page test enrolls by UI)."""
    with Client(console_url) as client:
        known = {speaker.name for speaker in client.speakers()}
        for name, path in voices.items():
            if name not in known:
                client.enroll_speaker(name, path)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the page screenshots go (printed in the test report's temp folder)."""
    return tmp_path_factory.mktemp("console-screenshots")


@pytest.fixture(scope="session")
def console(
    tmp_path_factory: pytest.TempPathFactory,
    console_url: str,
    screenshots: Path,
    microphone_wav: Path,
) -> Iterator[Console]:
    """Headless Chromium on the console; its fake microphone plays Diane's turns."""
    reason = chromium_missing()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    browser = launch_chromium(tmp_path_factory.mktemp("chromium-profile"), microphone_wav)
    try:
        yield Console(browser, console_url, screenshots)
    finally:
        browser.quit()
