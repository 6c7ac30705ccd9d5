"""Live audio: the Realtime WebSocket streamed at real time, against whole-file and naive ASR.

A ``tympan serve --wyoming`` subprocess (tiny.en, server VAD, 500 ms silence) is the server;
clients in this process stream real conversations (``diarization/``: the pyannote sample and
three AMI openings, 30 s each) at real time in 100 ms chunks and time every event.

- WER of the joined ``completed`` turns against the STM (sample) and against Tympan's
  whole-file transcription of the same clip (all four); Whisper's normaliser.
- End of speech (inside a turn, the end of a stretch of RTTM speech, all speakers merged and
  followed by ``silence_duration_ms`` of nobody, not one a turn ran on past into the next
  stretch: ``_speech_end``) -> ``completed``: p50 / p95, split into end of
  speech -> ``speech_stopped`` (server VAD waiting out ``silence_duration_ms``) and
  ``speech_stopped`` -> ``completed`` (decoding); speech start -> first ``delta``; how far
  server VAD runs behind real time (``speech_stopped`` against the audio that decides it);
  how much of what the deltas sent the completed texts changed (WER of the joined deltas
  against the joined ``completed`` texts, all clips).
- Speaker labels of live turns against the RTTM: a turn's reference speaker is the one who
  speaks most inside it; labels are mapped one-to-one to reference speakers (Hungarian).
- Concurrency: N sessions at once (a 20 s stretch of the sample), p95 of speech stop ->
  ``completed``, against the naive way (Speaches-style): each finished turn transcribed whole
  by faster-whisper in its own thread, no batching, same turns, same model, same machine, the
  two interleaved level by level. Two arrivals: ``together`` (every session starts at the
  same instant with the same audio, so all N end each turn at once: the worst case) and
  ``staggered`` (session i starts i/N of the clip later, as N independent speakers would:
  their turn ends spread over the clip).
- Turn detection: the same clips streamed (no speaker labels) with ``server_vad`` 500 ms
  (``server_vad_<ms>``: another silence) and ``semantic_vad`` at each eagerness in
  ``BENCH_REALTIME_DETECTIONS`` (default ``server_vad,high,medium,auto``), alternated clip
  by clip: turns, WER of the joined turns (sample against the STM; all clips, pooled,
  against the whole-file text), end of speech ->
  ``completed`` p50 / p95. An end of speech is an end of a stretch of RTTM speech whose gap
  after it is at least the shortest silence that configuration ends a turn in (500 ms; for
  ``semantic_vad`` its eagerness' short silence, and not the clip's end, where the excerpt
  cut a speaker off mid-sentence).
- Wyoming: round trip of a 5 s utterance (transcribe + audio events -> transcript) against
  ``POST /v1/audio/transcriptions`` of the same audio, interleaved, min / median of 5.

``BENCH_REALTIME_PARTS`` (comma-separated, default all: ``quality,turn_detection,concurrency,
wyoming``) runs only the parts named; ``BENCH_REALTIME_LEVELS`` (default ``1,2,4,6,8``) sets
the concurrency part's numbers of sessions, ``BENCH_REALTIME_ARRIVALS`` (default
``together,staggered``) its arrivals.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import jiwer
import numpy as np
import soundfile
from faster_whisper import WhisperModel
from scipy.optimize import linear_sum_assignment
from websockets.asyncio.client import connect
from whisper_normalizer.english import EnglishTextNormalizer
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient

from benchmarks._harness import EVAL_DIR, markdown_table
from tympan.audio import Audio, decode_audio
from tympan.tasks.asr.models import _tiny_en_path
from tympan.tasks.streaming import TurnDetection, TurnDetector
from tympan.tasks.streaming.options import EAGERNESS_WAITS_MS
from tympan.tasks.vad import SileroVad
from tympan.tasks.vad.segments import FRAME_SAMPLES

_normalise = EnglishTextNormalizer()
DIARIZATION = EVAL_DIR / "diarization"
CLIPS = ["sample", "ami_EN2002a_0000_0030", "ami_EN2005a_0000_0030", "ami_ES2003a_0000_0030"]
CHUNK = 0.1
SILENCE_MS = 500
LEVELS = tuple(int(n) for n in os.environ.get("BENCH_REALTIME_LEVELS", "1,2,4,6,8").split(","))
GOAL_P95 = 1.5
ARRIVALS = tuple(os.environ.get("BENCH_REALTIME_ARRIVALS", "together,staggered").split(","))
RATE = 16_000
THREADS = os.cpu_count() or 1
PARTS = os.environ.get("BENCH_REALTIME_PARTS", "quality,turn_detection,concurrency,wyoming")
DETECTIONS = os.environ.get("BENCH_REALTIME_DETECTIONS", "server_vad,high,medium,auto")
_VAD_EARLY_SECONDS = 0.3
"""How far a turn's end (Silero's) may fall inside the RTTM's next stretch of speech and
still be timed from the end before it."""
_CLIP_END_SECONDS = 0.05  # an RTTM turn ending this close to the clip's end was cut there
SERVER_VAD = {"type": "server_vad", "silence_duration_ms": SILENCE_MS}


@dataclass
class Stream:
    """One session's events, each with the wall time it arrived."""

    started: float = 0.0
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def of(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, e) for t, e in self.events if e["type"] == kind]

    def wall(self, audio_seconds: float) -> float:
        """When the audio at ``audio_seconds`` was spoken (real-time pacing: a chunk goes out
        once all of it has been spoken, as from a microphone)."""
        return self.started + audio_seconds


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``tympan serve`` with Wyoming, in a subprocess of its own."""

    def __init__(self) -> None:
        self.port, self.wyoming_port = _free_port(), _free_port()
        self.data = tempfile.TemporaryDirectory()
        env = {**os.environ, "TYMPAN_DATA_DIR": self.data.name}
        command = "from tympan.cli import main; main()"
        args = ["serve", "--port", str(self.port), "--log-level", "warning"]
        args += ["--wyoming", f"tcp://127.0.0.1:{self.wyoming_port}"]
        self.process = subprocess.Popen([sys.executable, "-c", command, *args], env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("the benchmark server did not start")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.data.cleanup()


async def stream_live(
    url: str,
    samples: np.ndarray,
    speakers: bool = False,
    turn_detection: dict[str, Any] = SERVER_VAD,
    tail_seconds: float = 1.0,
) -> Stream:
    """Stream ``samples`` and ``tail_seconds`` of silence at real time over ``/v1/realtime``;
    every event, timed."""
    ws_url = url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
    result = Stream()
    async with connect(ws_url, max_size=None) as ws:
        await ws.recv()
        input_ = {
            "format": {"type": "audio/pcm", "rate": RATE},
            "transcription": {"language": "en"},
            "turn_detection": turn_detection,
        }
        update = {"type": "session.update", "session": {"audio": {"input": input_}}}
        update["session"]["speakers"] = speakers
        await ws.send(json.dumps(update))
        await ws.recv()
        tail = np.zeros(round(tail_seconds * RATE), np.float32)
        data = _pcm16(np.concatenate([samples, tail]))
        step = round(RATE * CHUNK) * 2

        async def send() -> None:
            result.started = time.perf_counter()
            for index, start in enumerate(range(0, len(data), step)):
                delay = result.started + (index + 1) * CHUNK - time.perf_counter()
                await asyncio.sleep(max(0.0, delay))
                audio = base64.b64encode(data[start : start + step]).decode()
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))

        sender = asyncio.create_task(send())
        started = committed = completed = 0
        deadline = float("inf")  # a server behind real time still ends its turns: wait for them
        while (not sender.done() or completed < max(started, committed)) and (
            time.perf_counter() < deadline
        ):
            if sender.done() and deadline == float("inf"):
                deadline = time.perf_counter() + 120
            try:
                message = await asyncio.wait_for(ws.recv(), timeout=1.0)
            except TimeoutError:
                continue
            event = json.loads(message)
            result.events.append((time.perf_counter(), event))
            started += event["type"] == "input_audio_buffer.speech_started"
            committed += event["type"] == "input_audio_buffer.committed"
            completed += event["type"].endswith("transcription.completed")
            completed += event["type"].endswith("transcription.failed")
        await sender
    return result


def _rttm(name: str) -> list[tuple[float, float, str]]:
    turns = []
    for line in (DIARIZATION / f"{name}.rttm").read_text().splitlines():
        fields = line.split()
        turns.append((float(fields[3]), float(fields[3]) + float(fields[4]), fields[7]))
    return turns


def _speech_regions(
    reference: list[tuple[float, float, str]], gap_ms: int = SILENCE_MS
) -> list[tuple[float, float]]:
    """Where anyone speaks, by the RTTM: every speaker's segments merged, with gaps shorter
    than ``gap_ms`` (no turn can end there) closed. A region's end is an end of speech;
    the end of one speaker's segment while another goes on talking is not."""
    regions: list[list[float]] = []
    for start, end, _ in sorted(reference):
        if regions and start - regions[-1][1] < gap_ms / 1000:
            regions[-1][1] = max(regions[-1][1], end)
        else:
            regions.append([start, end])
    return [(start, end) for start, end in regions]


def _speech_end(
    turn: dict[str, Any], regions: list[tuple[float, float]], cut_at: float | None = None
) -> float | None:
    """The end of speech (RTTM) a turn ended after, in audio seconds; None when it ended with
    none: while someone went on speaking, or after speech had come back (a turn that ran on
    through the next stretch of speech, as semantic VAD's turns do past a pause it judged
    unfinished, ends in that stretch, not after the end of speech before it), or at
    ``cut_at``, where the excerpt was cut (given for semantic VAD: the clips are the first
    30 s of conversations, so speech that stops at the clip's end stops mid-sentence, where
    a judge of the turn rightly waits; server VAD's silence ends a turn there as anywhere)."""
    for (_, end), following in zip(regions, [*regions[1:], None], strict=True):
        if not turn["start"] <= end <= turn["end"] + 0.5:
            continue
        if cut_at is not None and end >= cut_at - _CLIP_END_SECONDS:
            continue
        if following is not None and following[0] < turn["end"] - _VAD_EARLY_SECONDS:
            continue  # speech came back before the turn ended
        return end
    return None


def _cut_in_speech(turn: dict[str, Any], regions: list[tuple[float, float]]) -> bool:
    return any(start < turn["end"] < end for start, end in regions)


def _stm_text() -> str:
    lines = (DIARIZATION / "sample.stm").read_text().splitlines()
    return " ".join(line.split(maxsplit=6)[6] for line in lines)


def _wer(reference: str, hypothesis: str) -> float:
    return 100 * jiwer.wer(_normalise(reference), _normalise(hypothesis) or "<empty>")


def _turns(stream: Stream) -> list[dict[str, Any]]:
    """Completed turns with their audio window (speech start / stop) and event times."""
    starts = {
        e["item_id"]: e["audio_start_ms"] / 1000
        for _, e in stream.of("input_audio_buffer.speech_started")
    }
    stops = {
        e["item_id"]: (t, e["audio_end_ms"] / 1000)
        for t, e in stream.of("input_audio_buffer.speech_stopped")
    }
    first_delta: dict[str, float] = {}
    deltas: dict[str, str] = {}
    for t, e in stream.of("conversation.item.input_audio_transcription.delta"):
        first_delta.setdefault(e["item_id"], t)
        deltas[e["item_id"]] = deltas.get(e["item_id"], "") + e["delta"]
    turns = []
    for t, e in stream.of("conversation.item.input_audio_transcription.completed"):
        item = e["item_id"]
        if item not in starts or item not in stops:
            continue
        turns.append(
            {
                "start": starts[item],
                "end": stops[item][1],
                "stopped_at": stops[item][0],
                "completed_at": t,
                "first_delta_at": first_delta.get(item),
                "deltas": deltas.get(item, ""),
                "text": e["transcript"],
                "speaker": e.get("speaker"),
            }
        )
    return turns


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _speaker_accuracy(turns: list[dict[str, Any]], reference: list[tuple[float, float, str]]):
    """Turns whose label maps (one-to-one, Hungarian) to the speaker who speaks most in them."""
    truth = []
    for turn in turns:
        overlap: dict[str, float] = {}
        for start, end, who in reference:
            shared = min(end, turn["end"]) - max(start, turn["start"])
            if shared > 0:
                overlap[who] = overlap.get(who, 0.0) + shared
        truth.append(max(overlap, key=overlap.get) if overlap else None)
    labelled = [(t["speaker"], r) for t, r in zip(turns, truth, strict=True) if r and t["speaker"]]
    if not labelled:
        return float("nan"), 0
    hyps = sorted({h for h, _ in labelled})
    refs = sorted({r for _, r in labelled})
    counts = np.zeros((len(hyps), len(refs)))
    for h, r in labelled:
        counts[hyps.index(h), refs.index(r)] += 1
    rows, cols = linear_sum_assignment(-counts)
    return 100 * counts[rows, cols].sum() / len(labelled), len(labelled)


def _whole_file(url: str, samples: np.ndarray) -> str:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format="WAV", subtype="PCM_16")
    response = httpx.post(
        url + "/v1/audio/transcriptions",
        files={"file": ("clip.wav", buffer.getvalue())},
        data={"model": "whisper-1", "language": "en"},
        timeout=600,
    )
    response.raise_for_status()
    return response.json()["text"]


def quality(url: str) -> str:
    rows, first_deltas, joined_deltas, finals = [], [], [], []
    latencies: dict[str, list[float]] = {"completed": [], "stopped": [], "decoding": []}
    lags: list[float] = []
    cut_in_speech = 0
    for name in CLIPS:
        samples = _clip(name)
        stream = asyncio.run(stream_live(url, samples, speakers=True))
        turns = _turns(stream)
        lags += _vad_lags(stream)
        live_text = " ".join(t["text"] for t in turns)
        joined_deltas.append(" ".join(t["deltas"] for t in turns))
        finals.append(live_text)
        whole = _whole_file(url, samples)
        reference = _rttm(name)
        regions = _speech_regions(reference)
        for turn in turns:
            speech_end = _speech_end(turn, regions)
            if speech_end is not None:
                latencies["completed"].append(turn["completed_at"] - stream.wall(speech_end))
                latencies["stopped"].append(turn["stopped_at"] - stream.wall(speech_end))
            else:
                cut_in_speech += _cut_in_speech(turn, regions)
            latencies["decoding"].append(turn["completed_at"] - turn["stopped_at"])
            if turn["first_delta_at"] is not None:
                onset = turn["start"] + TurnDetection().prefix_padding_ms / 1000
                first_deltas.append(turn["first_delta_at"] - stream.wall(onset))
        accuracy, labelled = _speaker_accuracy(turns, reference)
        stm = _stm_text() if name == "sample" else None
        rows.append(
            [
                name,
                len(turns),
                f"{_wer(stm, live_text):.1f}" if stm else "-",
                f"{_wer(stm, whole):.1f}" if stm else "-",
                f"{_wer(whole, live_text):.1f}",
                f"{accuracy:.0f} ({labelled} turns)",
            ]
        )
    table = markdown_table(
        [
            "clip",
            "turns",
            "live WER vs STM %",
            "whole-file WER vs STM %",
            "live vs whole-file %",
            "speaker label accuracy %",
        ],
        rows,
    )
    timing = markdown_table(
        ["measure", "p50 s", "p95 s", "n"],
        [
            *(
                [label, _percentile(values, 50), _percentile(values, 95), len(values)]
                for label, values in (
                    ("end of speech (RTTM) -> completed", latencies["completed"]),
                    ("end of speech (RTTM) -> speech_stopped (VAD)", latencies["stopped"]),
                    ("speech_stopped (VAD) -> completed", latencies["decoding"]),
                    ("VAD lag at speech_stopped (behind real time)", lags),
                )
            ),
            [
                "speech start -> first delta",
                _percentile(first_deltas, 50),
                _percentile(first_deltas, 95),
                len(first_deltas),
            ],
        ],
    )
    changed = _wer(" ".join(finals), " ".join(joined_deltas))
    return (
        f"{table}\n\n{timing}\n\nTurns server VAD ended while the RTTM has speech going on "
        f"(no end of speech to time them from): {cut_in_speech}. The deltas joined against "
        f"the completed texts (words sent that the final text changed): WER {changed:.1f} %."
    )


def _clip(name: str) -> np.ndarray:
    path = DIARIZATION / (f"{name}.wav" if name == "sample" else f"{name}.flac")
    return decode_audio(path).samples


def _detection(name: str) -> tuple[dict[str, Any], int, int]:
    """A ``BENCH_REALTIME_DETECTIONS`` entry's turn detection, and the shortest and longest
    silences it ends a turn after (ms)."""
    if name.startswith("server_vad"):  # server_vad, or server_vad_<silence ms>
        silence = int(name.removeprefix("server_vad").lstrip("_") or SILENCE_MS)
        return {"type": "server_vad", "silence_duration_ms": silence}, silence, silence
    shortest, longest = EAGERNESS_WAITS_MS["medium" if name == "auto" else name]
    return {"type": "semantic_vad", "eagerness": name}, shortest, longest


def turn_detection(url: str) -> str:
    """server_vad against semantic_vad's eagerness levels on the same clips, alternated."""
    names = DETECTIONS.split(",")
    texts: dict[str, list[str]] = {name: [] for name in names}
    latencies: dict[str, list[float]] = {name: [] for name in names}
    turn_counts = dict.fromkeys(names, 0)
    cut = dict.fromkeys(names, 0)
    wholes, sample_text = [], {}
    for clip in CLIPS:
        samples = _clip(clip)
        wholes.append(_whole_file(url, samples))
        for name in names:
            detection, shortest_ms, longest_ms = _detection(name)
            tail = longest_ms / 1000 + 0.5  # a last turn that sounds unfinished ends too
            stream = asyncio.run(
                stream_live(url, samples, turn_detection=detection, tail_seconds=tail)
            )
            turns = _turns(stream)
            regions = _speech_regions(_rttm(clip), shortest_ms)
            semantic = detection["type"] == "semantic_vad"
            cut_at = samples.shape[0] / RATE if semantic else None
            for turn in turns:
                speech_end = _speech_end(turn, regions, cut_at)
                if speech_end is not None:
                    latencies[name].append(turn["completed_at"] - stream.wall(speech_end))
                else:
                    cut[name] += _cut_in_speech(turn, regions)
            turn_counts[name] += len(turns)
            texts[name].append(" ".join(t["text"] for t in turns))
            if clip == "sample":
                sample_text[name] = texts[name][-1]
    rows = []
    for name in names:
        detection, shortest_ms, _ = _detection(name)
        label = (
            f"semantic_vad {name}"
            if detection["type"] == "semantic_vad"
            else f"server_vad {shortest_ms} ms"
        )
        pooled = 100 * jiwer.wer(
            [_normalise(w) for w in wholes], [_normalise(t) or "<empty>" for t in texts[name]]
        )
        rows.append(
            [
                label,
                turn_counts[name],
                f"{_wer(_stm_text(), sample_text[name]):.1f}" if name in sample_text else "-",
                f"{pooled:.1f}",
                _percentile(latencies[name], 50),
                _percentile(latencies[name], 95),
                len(latencies[name]),
                cut[name],
            ]
        )
    return markdown_table(
        [
            "turn detection",
            "turns",
            "sample live WER vs STM %",
            "all clips live vs whole-file %",
            "end of speech -> completed p50 s",
            "p95 s",
            "n",
            "turns ended in speech",
        ],
        rows,
    )


def _reference_turns(samples: np.ndarray) -> list[tuple[float, float]]:
    """The turns server VAD finds in ``samples`` (same detector and settings as the server)."""
    frames = samples[: samples.shape[0] // FRAME_SAMPLES * FRAME_SAMPLES]
    probabilities = SileroVad().probabilities(Audio.from_array(frames))
    detector = TurnDetector(TurnDetection(silence_duration_ms=SILENCE_MS), 30.0)
    turns, start = [], 0.0
    for boundary in detector.push(probabilities, 0):
        at = boundary.frame * FRAME_SAMPLES / RATE
        if boundary.kind == "start":
            start = max(0.0, at - 0.3)
        elif boundary.kind == "end":
            turns.append((start, at))
    return turns


def _wav_bytes(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _offsets(sessions: int, samples: np.ndarray, staggered: bool) -> list[float]:
    """When each session starts: all at once, or spread evenly over the clip."""
    clip = samples.shape[0] / RATE
    return [index * clip / sessions if staggered else 0.0 for index in range(sessions)]


async def naive_sessions(
    model: WhisperModel, samples: np.ndarray, sessions: int, staggered: bool = False
) -> list[float]:
    """Speaches' way: each turn, once its silence has passed, decoded whole in its own thread."""
    turns = _reference_turns(samples) or [(0.0, samples.shape[0] / RATE)]
    silence = SILENCE_MS / 1000
    loop = asyncio.get_running_loop()
    latencies: list[float] = []

    def decode(start: float, end: float) -> None:
        segments, _ = model.transcribe(
            samples[int(start * RATE) : int(end * RATE) + int(0.3 * RATE)],
            beam_size=5,
            language="en",
            vad_filter=False,
        )
        list(segments)

    async def one_session(executor: ThreadPoolExecutor, offset: float) -> None:
        began = time.perf_counter() + offset
        for start, end in turns:
            stopped = began + end + silence
            await asyncio.sleep(max(0.0, stopped - time.perf_counter()))
            await loop.run_in_executor(executor, decode, start, end)
            latencies.append(time.perf_counter() - stopped)

    with ThreadPoolExecutor(max_workers=sessions) as executor:
        offsets = _offsets(sessions, samples, staggered)
        await asyncio.gather(*(one_session(executor, offset) for offset in offsets))
    return latencies


def _vad_lags(stream: Stream) -> list[float]:
    """How far behind real time server VAD was at each ``speech_stopped``: its arrival after
    the audio that decides it was sent (the last speech frame + ``silence_duration_ms``, in
    whole frames; up to one 100 ms chunk of it is waiting for the chunk's end)."""
    silence = round(SILENCE_MS / 1000 * RATE / FRAME_SAMPLES) * FRAME_SAMPLES / RATE
    return [
        t - stream.wall(e["audio_end_ms"] / 1000 + silence)
        for t, e in stream.of("input_audio_buffer.speech_stopped")
    ]


async def live_sessions(
    url: str, samples: np.ndarray, sessions: int, speakers: bool = False, staggered: bool = False
) -> tuple[list[float], int, list[float], list[str]]:
    """Speech stop -> ``completed`` of every turn, failures, VAD lags and joined texts of
    ``sessions`` streams at once (all starting together, or ``staggered`` over the clip)."""

    async def delayed(offset: float) -> Stream:
        await asyncio.sleep(offset)
        return await stream_live(url, samples, speakers)

    offsets = _offsets(sessions, samples, staggered)
    streams = await asyncio.gather(*(delayed(offset) for offset in offsets))
    latencies, failures, lags, texts = [], 0, [], []
    for stream in streams:
        failures += len(stream.of("conversation.item.input_audio_transcription.failed"))
        failures += len(stream.of("error"))
        turns = _turns(stream)
        latencies += [t["completed_at"] - t["stopped_at"] for t in turns]
        lags += _vad_lags(stream)
        texts.append(" ".join(t["text"] for t in turns))
    return latencies, failures, lags, texts


def concurrency(url: str) -> str:
    samples = decode_audio(DIARIZATION / "sample.wav").samples[6 * RATE : 26 * RATE]
    model = WhisperModel(
        str(_tiny_en_path()), device="cpu", compute_type="int8", cpu_threads=THREADS
    )
    rows: list[list[Any]] = []
    sustained = {(arrival, way): 0 for arrival in ARRIVALS for way in ("Tympan", "naive")}
    whole = _normalise(_whole_file(url, samples))
    for sessions in LEVELS:
        for arrival in ARRIVALS:
            staggered = arrival == "staggered"
            ours, failures, lags, texts = asyncio.run(
                live_sessions(url, samples, sessions, staggered=staggered)
            )
            live_wer = 100 * jiwer.wer(
                [whole] * len(texts), [_normalise(t) or "<empty>" for t in texts]
            )
            naive = asyncio.run(naive_sessions(model, samples, sessions, staggered))
            p95_ours, p95_naive = _percentile(ours, 95), _percentile(naive, 95)
            if p95_ours < GOAL_P95 and not failures:
                sustained[arrival, "Tympan"] = sessions
            if p95_naive < GOAL_P95:
                sustained[arrival, "naive"] = sessions
            rows.append(
                [
                    sessions,
                    arrival,
                    _percentile(ours, 50),
                    p95_ours,
                    failures,
                    _percentile(lags, 95),
                    f"{live_wer:.1f}",
                    _percentile(naive, 50),
                    p95_naive,
                ]
            )
    table = markdown_table(
        [
            "sessions",
            "arrival",
            "Tympan p50 s",
            "Tympan p95 s",
            "Tympan failed",
            "VAD lag p95 s",
            "Tympan live vs whole-file WER %",
            "naive p50 s",
            "naive p95 s",
        ],
        rows,
    )
    counts = "; ".join(
        f"{arrival}: Tympan {sustained[arrival, 'Tympan']}, naive per-turn decoding "
        f"{sustained[arrival, 'naive']}"
        for arrival in ARRIVALS
    )
    return (
        f"{table}\n\nSessions sustained with p95 < {GOAL_P95} s (speech stop -> completed), "
        f"{counts}."
    )


async def _wyoming_once(port: int, samples: np.ndarray) -> tuple[float, str]:
    data = _pcm16(samples)
    fmt = {"rate": RATE, "width": 2, "channels": 1}
    started = time.perf_counter()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(**fmt).event())
        for start in range(0, len(data), 3200):
            await client.write_event(AudioChunk(audio=data[start : start + 3200], **fmt).event())
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None and event.type != "transcript":
            pass
    assert event is not None
    return time.perf_counter() - started, event.data["text"]


def wyoming(server: Server) -> str:
    samples = decode_audio(EVAL_DIR / "asr_ljspeech" / "LJ001-0020.flac").samples
    samples = np.concatenate([samples, np.zeros(RATE // 2, np.float32)])
    wav = _wav_bytes(samples)
    times: dict[str, list[float]] = {"Wyoming": [], "HTTP": []}
    texts = {}
    for _ in range(5):
        elapsed, texts["Wyoming"] = asyncio.run(_wyoming_once(server.wyoming_port, samples))
        times["Wyoming"].append(elapsed)
        started = time.perf_counter()
        response = httpx.post(
            server.url + "/v1/audio/transcriptions",
            files={"file": ("clip.wav", wav)},
            data={"model": "whisper-1", "language": "en"},
            timeout=600,
        )
        times["HTTP"].append(time.perf_counter() - started)
        texts["HTTP"] = response.json()["text"]
    rows = [
        [name, min(values), float(np.median(values)), _wer(texts["HTTP"], texts[name])]
        for name, values in times.items()
    ]
    seconds = samples.shape[0] / RATE
    return markdown_table(
        [f"{seconds:.1f} s utterance", "min s", "median s", "WER vs HTTP text %"], rows
    )


def run() -> str:
    server = Server()
    try:
        _whole_file(server.url, np.zeros(RATE, np.float32))  # load the model before timing
        parts = []
        chosen = PARTS.split(",")
        for part, title, measure in (
            ("quality", "Quality and latency, one session at a time, real time", quality),
            ("turn_detection", "server_vad against semantic_vad, real time", turn_detection),
            ("concurrency", "Concurrent real-time sessions", concurrency),
            ("wyoming", "Wyoming against HTTP (interleaved, 5 repeats)", lambda _: wyoming(server)),
        ):
            if part not in chosen:
                continue
            print(f"realtime: {title} ...", file=sys.stderr, flush=True)
            parts.append(f"{title}:\n\n{measure(server.url)}")
    finally:
        server.close()
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(run())
