"""ASR-friendly enhancement: which gentler enhancer lowers Whisper's WER on noisy speech?

Whisper is hurt by enhancer artifacts more than by leftover noise, so this grid tries the two
usual remedies: DeepFilterNet's attenuation limit (``ATTENUATION_LIMITS_DB``) and a dry/wet
blend of the noisy input back into DeepFilterNet's output (``DRY_SHARES``). The plain
enhancers' rows are ``bench_enhancement``'s (they raised WER almost everywhere); the mixtures
and the WER scoring are shared with it, and only the WER part runs (``python -m benchmarks
enhancement_asr``, well under 15 min). The dev noises at 0/5/10 dB and clean choose
``auto``'s ASR enhancer and threshold; the test noises at every SNR are reported.
"""

from __future__ import annotations

from benchmarks._blend import BlendedEnhancer
from benchmarks._harness import machine_load
from benchmarks.bench_enhancement import (
    LJSPEECH_CLIPS,
    SMALL_CLIPS,
    SNRS,
    choose_auto,
    enhance_conditions,
    load_clips,
    mixtures,
    transcribe_conditions,
    wer_table,
)
from tympan.client import Client
from tympan.config import SAMPLE_RATE, Settings
from tympan.models import ModelRegistry
from tympan.tasks.enhancement import DEEPFILTERNET_ID, NOISEREDUCE_ID, DeepFilterNet, Enhancer

DEV_SNRS = (0, 5, 10)
ATTENUATION_LIMITS_DB = (6, 12, 18)
DRY_SHARES = (0.2, 0.4)


def run() -> str:
    settings = Settings(_env_file=None)
    registry = ModelRegistry.from_settings(settings)
    deepfilternet = registry.get(DEEPFILTERNET_ID).load()
    enhancers: dict[str, Enhancer] = {NOISEREDUCE_ID: registry.get(NOISEREDUCE_ID).load()}
    for limit in ATTENUATION_LIMITS_DB:
        enhancers[f"{DEEPFILTERNET_ID}@{limit}dB"] = DeepFilterNet(limit, threads=1)
    for dry in DRY_SHARES:
        enhancers[f"{DEEPFILTERNET_ID}+dry{dry:g}"] = BlendedEnhancer(deepfilternet, dry)
    clips = load_clips()
    conditions = mixtures(clips, {"dev": DEV_SNRS, "test": SNRS})
    enhance_conditions(conditions, enhancers)
    methods = list(enhancers)
    with Client.in_process(settings) as client:
        transcribe_conditions(client, conditions)
    auto = choose_auto(conditions, methods)
    speech_seconds = sum(c.speech.shape[0] for c in clips) / SAMPLE_RATE
    return "\n\n".join(
        [
            f"{machine_load()}. {len(clips)} utterances ({speech_seconds:.0f} s: "
            f"{LJSPEECH_CLIPS} asr_ljspeech, {SMALL_CLIPS} asr_small), tiny.en (beam 5) "
            f"through Tympan's in-process API. `name@N dB`: DeepFilterNet's attenuation "
            f"limit; `name+dryD`: (1 - D) x enhanced + D x noisy. auto chosen on dev noises "
            f"(0/5/10 dB and clean): `{auto[0]}` under an estimated {auto[1]:g} dB SNR.",
            "### WER (%)\n\n" + wer_table(conditions, ["none", *methods], auto),
        ]
    )
