"""How close is the blind SNR estimate that ``noise_reduction=auto`` decides on?

``estimate_snr_db`` on the mixtures the enhancement benchmarks decide and report on
(``bench_enhancement``'s mixing, seed and noise split; nothing stored): every asr_ljspeech and
asr_small utterance, and the 40 speaker-verification files of ``bench_enhancement_speakers``,
each at 0/5/10/20 dB and clean. For each set, split and SNR: the mean error against the mixing
SNR (bias), the mean absolute error, and the 10th/50th/90th percentiles of the estimates
(``auto`` compares them with a threshold, so the spread decides how many mixtures land on the
wrong side). Clean speech has no true SNR (some recordings carry their own room noise): only
its percentiles. Then the estimate's time per minute of audio (min of 5, load stated).
``python -m benchmarks enhancement_snr``.
"""

from __future__ import annotations

import numpy as np

from benchmarks._harness import machine_load, markdown_table, time_call
from benchmarks.bench_enhancement import CLEAN, SEED, Clip, load_clips, load_noises, mixtures
from benchmarks.bench_enhancement_speakers import FILES, trials_among_first_files
from benchmarks.bench_speakers import SPEAKERS, read_rows
from tympan.audio import Audio, decode_audio
from tympan.config import SAMPLE_RATE
from tympan.tasks.enhancement.snr import estimate_snr_db, mix_at_snr

SNRS = (0, 5, 10, 20)


def speaker_files() -> list[Clip]:
    """The files of the verification trials ``bench_enhancement_speakers`` scores."""
    trials = trials_among_first_files(read_rows(SPEAKERS / "trials.csv"), FILES)
    names = sorted({t[side] for t in trials for side in ("enroll", "test")})
    return [Clip(name, decode_audio(SPEAKERS / name).samples, "") for name in names]


def error_rows(name: str, clips: list[Clip]) -> list[list]:
    """One row per split and SNR: bias, MAE and percentiles of the estimates."""
    rows = []
    for condition in mixtures(clips, {"dev": SNRS, "test": SNRS}):
        estimates = np.array([estimate_snr_db(Audio.from_array(x)) for x in condition.noisy])
        p10, p50, p90 = np.percentile(estimates, [10, 50, 90])
        if condition.snr == CLEAN:
            bias = mae = "-"
        else:
            errors = estimates - float(condition.snr)
            bias, mae = float(np.mean(errors)), float(np.mean(np.abs(errors)))
        rows.append([name, condition.split, condition.snr, bias, mae, p10, p50, p90])
    return rows


def cost_per_minute(speech: np.ndarray) -> float:
    """Milliseconds to estimate a minute of speech in test noise at 5 dB (min of 5)."""
    minute = np.tile(speech, int(60 * SAMPLE_RATE / speech.shape[0]) + 1)[: 60 * SAMPLE_RATE]
    noisy = mix_at_snr(minute, load_noises("test")[0], 5, np.random.default_rng(SEED))[0]
    audio = Audio.from_array(noisy)
    return 1000 * time_call(lambda: estimate_snr_db(audio), repeats=5).min


def run() -> str:
    utterances = load_clips({"asr_ljspeech": 1000, "asr_small": 1000})
    speakers = speaker_files()
    rows = error_rows(f"asr ({len(utterances)})", utterances)
    rows += error_rows(f"speakers ({len(speakers)})", speakers)
    milliseconds = cost_per_minute(utterances[0].speech)
    return "\n\n".join(
        [
            f"{machine_load()}. Estimate minus mixing SNR, in dB; percentiles of the "
            f"estimates. Cost: {milliseconds:.1f} ms per minute of audio (min of 5).",
            markdown_table(["items", "noises", "SNR dB", "bias", "MAE", "p10", "p50", "p90"], rows),
        ]
    )
