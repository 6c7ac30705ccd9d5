"""The web console in real headless Chromium against the same requests sent directly.

What the console adds on top of the API: the Transcribe page (upload, streamed answer, the
transcript drawn with a span per word) against the same multipart request from httpx, and the
Speech page's first audible audio (Media Source Extensions playing the MP3 as it streams)
against the whole MP3 arriving. Browser and direct runs are interleaved, min over repeats.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import httpx
from tests.console.driver import Console, chromium_missing, launch_chromium
from tests.live_server import serve_in_thread

from benchmarks._harness import EVAL_DIR, markdown_table, ratio
from tympan.config import Settings

CLIP = EVAL_DIR / "asr_ljspeech" / "LJ001-0001.flac"
PARAGRAPH = (
    "Tympan runs on one machine. It transcribes meetings and names the people who spoke. "
    "It speaks text with local voices. It trains classifiers from a folder of examples. "
    "Everything stays on the machine, and nothing is sent anywhere else."
)
REPEATS = 3


def _direct_transcription(url: str) -> float:
    """The Transcribe page's request (its default model, streamed, word times) sent by httpx."""
    model = httpx.get(f"{url}/v1/models", params={"task": "asr"}).json()["data"][0]["id"]
    fields = {"model": model, "stream": "true", "timestamp_granularities[]": ["word", "segment"]}
    started = time.perf_counter()
    upload = {"file": (CLIP.name, CLIP.read_bytes(), "audio/flac")}
    request = httpx.stream(
        "POST", f"{url}/v1/audio/transcriptions", data=fields, files=upload, timeout=600
    )
    with request as response:
        events = [
            json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")
        ]
    assert events[-1]["type"] == "transcript.text.done", events[-1]
    return time.perf_counter() - started


def _console_transcription(console: Console) -> float:
    console.open("transcribe")
    console.choose_files("main form", "file", CLIP)
    console.find("#diarize").click()
    started = time.perf_counter()
    console.submit("main form")
    console.wait_text(".transcript", "Exhibition", timeout=300)
    return time.perf_counter() - started


def _direct_speech(url: str) -> float:
    body = {"input": PARAGRAPH, "response_format": "mp3"}
    started = time.perf_counter()
    httpx.post(f"{url}/v1/audio/speech", json=body, timeout=600).raise_for_status()
    return time.perf_counter() - started


def _console_speech(console: Console) -> tuple[float, float]:
    """Milliseconds to the first audio and to the whole MP3, as the Speech page measures them."""
    console.open("speech")
    text = console.find("main textarea[name=input]")
    text.clear()
    text.send_keys(PARAGRAPH)
    console.submit("main form")
    first = console.wait_text(".speech-status", "First audio after", timeout=300)
    whole = console.wait_text(".speech-status", "bytes of mp3", timeout=300)
    return float(first.split("after ")[1].split(" ms")[0]) / 1000, float(
        whole.split(" in ")[1].split(" ms")[0]
    ) / 1000


def run() -> str:
    reason = chromium_missing()
    if reason:
        return f"Skipped: {reason}."
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(_env_file=None, data_dir=Path(folder) / "data")  # type: ignore[call-arg]
        with serve_in_thread(settings) as url:
            browser = launch_chromium(Path(folder) / "profile")
            try:
                console = Console(browser, url, Path(folder))
                _direct_transcription(url), _direct_speech(url)  # load the models
                asr_direct, asr_console, tts_direct, tts_first, tts_whole = [], [], [], [], []
                for _ in range(REPEATS):  # interleaved: both sides see the same machine load
                    asr_direct.append(_direct_transcription(url))
                    asr_console.append(_console_transcription(console))
                    tts_direct.append(_direct_speech(url))
                    first, whole = _console_speech(console)
                    tts_first.append(first)
                    tts_whole.append(whole)
            finally:
                browser.quit()
    rows = [
        ["Transcribe 9.7 s clip: httpx, same request", min(asr_direct), "1.00"],
        ["Transcribe 9.7 s clip: console page, upload to words drawn", min(asr_console),
         f"{ratio(min(asr_console), min(asr_direct)):.2f}"],
        ["Speech 5 sentences mp3: httpx, whole body", min(tts_direct), "1.00"],
        ["Speech: console page, first audio playing", min(tts_first),
         f"{ratio(min(tts_first), min(tts_direct)):.2f}"],
        ["Speech: console page, whole mp3 received", min(tts_whole),
         f"{ratio(min(tts_whole), min(tts_direct)):.2f}"],
    ]  # fmt: skip
    table = markdown_table(["what", f"min s of {REPEATS}", "x direct"], rows)
    return (
        f"{table}\n\nThe console costs {ratio(min(asr_console), min(asr_direct)):.2f}x the "
        f"direct request for a transcript; its first speech plays "
        f"{ratio(min(tts_whole), min(tts_first)):.1f}x sooner than the whole MP3 arrives."
    )
