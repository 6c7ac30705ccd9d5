"""Training the speaker-count model from single-speaker clips mixed into conversations.

Nothing overlapped is needed: ``ConversationSimulator`` lays clips of 1-4 speakers end to end
the way people take turns, with the gap before each turn drawn around a per-conversation mean
so that some turns start before the last one ends (about 10 % of the speech overlapped on
average, as in meetings), each voice at its own level and, half the time, in its own
simulated room, with recorded noise under it. Silero VAD marks where each clip has speech,
so every 10 ms frame knows how many people speak. Speakers are split before mixing: the
validation conversations are made of voices the model never trained on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.signal import fftconvolve
from sklearn.metrics import roc_auc_score

from tympan.audio import decode_audio
from tympan.errors import InvalidDataset, InvalidParameter
from tympan.tasks.diarization.overlap import (
    HOP,
    SAMPLE_RATE,
    CounterConfig,
    OverlapModel,
    SpeakerCounter,
    log_mel,
)
from tympan.tasks.vad import SileroVad

__all__ = [
    "ConversationSimulator",
    "OverlapTrainOptions",
    "SpeechClip",
    "speech_clips",
    "train_overlap_model",
]

Progress = Callable[[float, str], None]
_AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a"}
_LONGEST_TURN_SECONDS = 6.0
_VALIDATION_EXAMPLES = 48


@dataclass(frozen=True, slots=True)
class OverlapTrainOptions:
    """How long and how hard to train; the defaults are what the benchmark measured."""

    steps: int = 600
    batch_size: int = 24
    learning_rate: float = 2e-3
    seconds: float = 8.0
    reverb_share: float = 0.5
    noise_share: float = 0.6
    validation_speakers: float = 0.1
    seed: int = 0
    threads: int = 0

    def validate(self) -> None:
        """``InvalidParameter`` (400) for values training cannot run with."""
        if not 1 <= self.steps <= 100_000:
            raise InvalidParameter("steps must be between 1 and 100000.", param="steps")
        if not 1 <= self.batch_size <= 256:
            raise InvalidParameter("batch_size must be between 1 and 256.", param="batch_size")
        if not 0.0 < self.learning_rate <= 0.1:
            raise InvalidParameter("learning_rate must be in (0, 0.1].", param="learning_rate")


@dataclass(frozen=True, slots=True)
class SpeechClip:
    """One speaker's speech, cut to where it starts and ends, with its 10 ms activity."""

    speaker: str
    samples: np.ndarray
    active: np.ndarray


def speech_clips(
    clips: Sequence[tuple[str, Path]], vad: SileroVad, progress: Progress | None = None
) -> list[SpeechClip]:
    """Decode ``(speaker, path)`` clips and mark their speech with Silero (probability over
    0.5 per 32 ms frame, read every 10 ms); clips without speech are left out."""
    found = []
    for number, (speaker, path) in enumerate(clips):
        audio = decode_audio(path)
        scores = vad.probabilities(audio)
        if scores.size == 0:
            continue
        whole = audio.samples.shape[0] // HOP  # frames wholly inside the clip
        silero_frame = np.arange(whole) * HOP * len(scores) // max(1, audio.samples.shape[0])
        active = scores[silero_frame] > 0.5
        spoken = np.flatnonzero(active)
        if spoken.size:
            first, last = spoken[0], spoken[-1] + 1
            samples = audio.samples[first * HOP : last * HOP].astype(np.float32)
            found.append(SpeechClip(speaker, samples, active[first:last]))
        if progress is not None:
            progress((number + 1) / len(clips), f"read {number + 1}/{len(clips)} clips")
    return found


def noise_recordings(folder: Path | None) -> list[np.ndarray]:
    """Every audio file under ``folder`` (none if no folder), decoded to 16 kHz mono."""
    if folder is None:
        return []
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _AUDIO_SUFFIXES)
    return [decode_audio(path).samples.astype(np.float32) for path in paths]


class ConversationSimulator:
    """Random conversations of the given speakers' clips, with per-frame speaker counts."""

    def __init__(
        self,
        clips: Sequence[SpeechClip],
        noises: Sequence[np.ndarray],
        options: OverlapTrainOptions,
        seed: int,
    ) -> None:
        self.by_speaker: dict[str, list[SpeechClip]] = {}
        for clip in clips:
            self.by_speaker.setdefault(clip.speaker, []).append(clip)
        self.speakers = sorted(self.by_speaker)
        self.noises = [noise for noise in noises if noise.size]
        self.options = options
        self.rng = np.random.default_rng(seed)
        self.samples = int(options.seconds * SAMPLE_RATE)
        self.frames = self.samples // HOP + 1

    def _room(self) -> np.ndarray:
        """An impulse response: the direct sound, then exponentially decaying reflections
        (reverberation time 0.15-0.7 s, 0-12 dB under the direct sound)."""
        rt60 = self.rng.uniform(0.15, 0.7)
        times = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
        tail = self.rng.standard_normal(times.size) * np.exp(-6.9 * times / rt60)
        tail *= 10 ** (-self.rng.uniform(0, 12) / 20) / (np.sqrt((tail**2).sum()) + 1e-9)
        tail[0] = 1.0
        return tail.astype(np.float32)

    def conversation(self) -> tuple[np.ndarray, np.ndarray]:
        """(samples, speaker count per frame, capped at 2) of one conversation."""
        rng = self.rng
        count = int(rng.choice([1, 2, 3, 4], p=[0.15, 0.45, 0.25, 0.15]))
        count = min(count, len(self.speakers))
        voices = [self.speakers[i] for i in rng.choice(len(self.speakers), count, replace=False)]
        levels = {v: 10 ** (rng.uniform(-8, 8) / 20) for v in voices}
        reverberant = {v: rng.random() < self.options.reverb_share for v in voices}
        rooms = {v: self._room() if reverberant[v] else None for v in voices}
        mix = np.zeros(self.samples, np.float32)
        speaking = np.zeros(self.frames, int)
        mean_gap = rng.uniform(-0.5, 0.5)
        position, last = int(rng.uniform(-3, 1) * SAMPLE_RATE), None
        while position < self.samples:
            voice = voices[rng.integers(count)]
            if voice == last and count > 1 and rng.random() < 0.7:  # mostly, turns change hands
                others = [v for v in voices if v != voice]
                voice = others[rng.integers(len(others))]
            clip = self.by_speaker[voice][rng.integers(len(self.by_speaker[voice]))]
            frames = min(clip.active.size, int(_LONGEST_TURN_SECONDS * SAMPLE_RATE) // HOP)
            turn = clip.samples[: frames * HOP]
            turn = turn / (np.sqrt(np.mean(turn**2)) + 1e-6) * levels[voice]
            if rooms[voice] is not None:
                turn = fftconvolve(turn, rooms[voice])[: turn.size].astype(np.float32)
            start = max(position, HOP - turn.size) // HOP * HOP  # on the frame grid
            skip = max(0, -start)
            stop = min(turn.size, self.samples - start)
            if stop > skip:
                mix[start + skip : start + stop] += turn[skip:stop]
                first = (start + skip) // HOP
                active = clip.active[skip // HOP : stop // HOP][: self.frames - first]
                speaking[first : first + active.size] += active
            last = voice
            position = start + turn.size + int(rng.normal(mean_gap, 0.6) * SAMPLE_RATE)
        return self._with_noise(mix, speaking), np.minimum(speaking, 2)

    def _with_noise(self, mix: np.ndarray, speaking: np.ndarray) -> np.ndarray:
        """Noise at 0-30 dB under the speech (some of the time), then a random level."""
        rng = self.rng
        if self.noises and rng.random() < self.options.noise_share:
            noise = self.noises[rng.integers(len(self.noises))]
            noise = np.tile(noise, math.ceil(self.samples / noise.size) + 1)
            offset = rng.integers(noise.size - self.samples + 1)
            noise = noise[offset : offset + self.samples]
            voiced = np.repeat(speaking > 0, HOP)[: self.samples]
            speech_power = np.mean(mix[voiced] ** 2) if voiced.any() else np.mean(mix**2)
            ratio = speech_power / (np.mean(noise**2) + 1e-10) / 10 ** (rng.uniform(0, 30) / 10)
            mix = mix + noise * np.sqrt(ratio)
        return (mix / (np.abs(mix).max() + 1e-6) * rng.uniform(0.05, 0.9)).astype(np.float32)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` conversations as (samples, counts) tensors."""
        pairs = [self.conversation() for _ in range(size)]
        return (
            torch.from_numpy(np.stack([p[0] for p in pairs])),
            torch.from_numpy(np.stack([p[1] for p in pairs])),
        )


def _split_speakers(
    clips: Sequence[SpeechClip], share: float, seed: int
) -> tuple[list[SpeechClip], list[SpeechClip]]:
    speakers = sorted({clip.speaker for clip in clips})
    if len(speakers) < 4:
        raise InvalidDataset(
            f"Overlap training mixes different voices and holds two or more out for "
            f"validation: it needs clips of at least 4 speakers (a 'speaker' column), this "
            f"has {len(speakers)}."
        )
    held = min(len(speakers) - 2, max(2, round(len(speakers) * share)))
    held_out = set(np.random.default_rng(seed).permutation(speakers)[:held].tolist())
    train = [clip for clip in clips if clip.speaker not in held_out]
    return train, [clip for clip in clips if clip.speaker in held_out]


@torch.no_grad()
def _validation_auc(network: SpeakerCounter, examples: tuple[torch.Tensor, torch.Tensor]) -> float:
    """ROC AUC of P(2+) for overlapped against single-speaker frames of ``examples``."""
    network.eval()
    samples, counts = examples
    probabilities = torch.softmax(network(log_mel(samples)), -1)[..., 2]
    frames = min(probabilities.shape[1], counts.shape[1])
    scores = probabilities[:, :frames].reshape(-1).numpy()
    truth = counts[:, :frames].reshape(-1).numpy()
    speech = truth >= 1
    if not (truth == 2).any() or not (truth == 1).any():
        return float("nan")
    return float(roc_auc_score(truth[speech] == 2, scores[speech]))


def train_overlap_model(
    clips: Sequence[SpeechClip],
    noises: Sequence[np.ndarray],
    options: OverlapTrainOptions = OverlapTrainOptions(),
    progress: Progress | None = None,
) -> OverlapModel:
    """Train a ``SpeakerCounter`` on simulated conversations of ``clips``' speakers.

    Cross-entropy over 0 / 1 / 2+ speakers per 10 ms frame, AdamW with a one-cycle schedule;
    ``meta`` reports the validation AUC for overlapped frames on conversations of held-out
    speakers, before and after training."""
    options.validate()
    train, held_out = _split_speakers(clips, options.validation_speakers, options.seed)
    simulator = ConversationSimulator(train, noises, options, options.seed)
    validation = ConversationSimulator(held_out, noises, options, options.seed + 1).batch(
        _VALIDATION_EXAMPLES
    )
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    config = CounterConfig()
    network = SpeakerCounter(config)
    auc_before = _validation_auc(network, validation)
    optimiser = torch.optim.AdamW(network.parameters(), lr=options.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, options.learning_rate, total_steps=options.steps, pct_start=0.1
    )
    started, losses = time.monotonic(), []
    for step in range(1, options.steps + 1):
        network.train()
        samples, counts = simulator.batch(options.batch_size)
        logits = network(log_mel(samples, config.mels))
        frames = min(logits.shape[1], counts.shape[1])
        loss = torch.nn.functional.cross_entropy(
            logits[:, :frames].reshape(-1, 3), counts[:, :frames].reshape(-1)
        )
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 5.0)
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        if progress is not None:
            recent = float(np.mean(losses[-50:]))
            progress(step / options.steps, f"step {step}/{options.steps}, loss {recent:.3f}")
    meta = {
        "steps": options.steps,
        "batch_size": options.batch_size,
        "learning_rate": options.learning_rate,
        "seed": options.seed,
        "train_clips": len(train),
        "train_speakers": len(simulator.speakers),
        "validation_speakers": len({clip.speaker for clip in held_out}),
        "noise_recordings": len(noises),
        "final_loss": round(float(np.mean(losses[-50:])), 4),
        "validation_auc_before": round(auc_before, 4),
        "validation_auc": round(_validation_auc(network, validation), 4),
        "train_seconds": round(time.monotonic() - started, 1),
    }
    return OverlapModel(network, config, meta)
