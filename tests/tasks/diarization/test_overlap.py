"""The speaker-count model: simulated conversations, a short real training run, saving and
loading, the second speaker it gives overlapped frames, and the pipeline using it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import EVAL_DIR, read_manifest
from tests.speaker_data import DIARIZATION_DIR, overlapped_seconds, read_rttm
from tympan.audio import decode_audio
from tympan.errors import Conflict, InvalidDataset, InvalidParameter
from tympan.tasks.diarization import DiarizationOptions, diarize
from tympan.tasks.diarization.overlap import (
    OverlapModel,
    is_trained,
    second_speakers,
    training_report,
)
from tympan.tasks.diarization.overlap_training import (
    ConversationSimulator,
    OverlapTrainOptions,
    SpeechClip,
    noise_recordings,
    speech_clips,
    train_overlap_model,
)
from tympan.tasks.diarization.pipeline import RESOLUTION, overlap_turns
from tympan.tasks.speakers import GE2E_MODEL_ID

SAMPLE = DIARIZATION_DIR / "sample.wav"
QUICK = OverlapTrainOptions(steps=60, batch_size=8, seed=3)


@pytest.fixture(scope="module")
def clips(models: tuple) -> list[SpeechClip]:
    """The ten LibriSpeech speakers' utterances and LJSpeech's reader, speech marked."""
    pairs = [
        (row["speaker"], EVAL_DIR / "speakers" / row["audio"]) for row in read_manifest("speakers")
    ]
    pairs += [
        ("LJ", EVAL_DIR / "asr_ljspeech" / row["audio"]) for row in read_manifest("asr_ljspeech")
    ]
    return speech_clips(pairs, models[0])


@pytest.fixture(scope="module")
def noises(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    folder = tmp_path_factory.mktemp("noise")
    for row in read_manifest("noise")[:4]:
        source = EVAL_DIR / "noise" / row["audio"]
        (folder / source.name).symlink_to(source)
    return noise_recordings(folder)


@pytest.fixture(scope="module")
def trained(clips: list[SpeechClip], noises: list[np.ndarray]) -> OverlapModel:
    return train_overlap_model(clips, noises, QUICK)


def test_clips_are_cut_to_their_speech(clips: list[SpeechClip]) -> None:
    assert len({clip.speaker for clip in clips}) == 11
    for clip in clips:
        assert clip.active[0] and clip.active[-1]
        assert clip.samples.shape[0] == clip.active.shape[0] * 160


def test_conversations_overlap_as_meetings_do(
    clips: list[SpeechClip], noises: list[np.ndarray]
) -> None:
    simulator = ConversationSimulator(clips, noises, OverlapTrainOptions(), seed=1)
    samples, counts = simulator.batch(40)
    assert samples.shape == (40, 128_000) and counts.shape == (40, 801)
    assert np.isfinite(samples.numpy()).all() and float(samples.abs().max()) <= 0.9
    counts = counts.numpy()
    speech = counts >= 1
    overlapped = (counts == 2).sum() / speech.sum()
    assert 0.03 < overlapped < 0.3, overlapped  # about 10 % of the speech, as in meetings
    assert 0.5 < speech.mean() < 0.98
    quiet = np.abs(samples.numpy()[:, : 800 * 160]).reshape(40, 800, 160).max(-1)
    assert np.median(quiet[counts[:, :800] == 0]) < np.median(quiet[counts[:, :800] >= 1])


def test_training_learns_to_find_overlaps(trained: OverlapModel) -> None:
    meta = trained.meta
    assert meta["steps"] == 60 and meta["train_speakers"] + meta["validation_speakers"] == 11
    assert meta["validation_speakers"] == 2 and meta["train_clips"] > 80
    assert meta["validation_auc"] > max(0.75, meta["validation_auc_before"] + 0.1), meta


def test_real_overlaps_rank_above_single_speech(trained: OverlapModel) -> None:
    """On the pyannote sample (never trained on) overlapped frames score higher."""
    audio = decode_audio(SAMPLE)
    scores = trained.overlap_probabilities(audio.samples)
    assert scores.shape == (audio.samples.shape[0] // 160 + 1,)
    counts = np.zeros(scores.shape[0], int)
    for start, end, _ in read_rttm(DIARIZATION_DIR / "sample.rttm"):
        counts[round(start * 100) : round(end * 100)] += 1
    speech = counts >= 1
    assert roc_auc_score(counts[speech] >= 2, scores[speech]) > 0.65


def test_save_and_load_give_the_same_scores(trained: OverlapModel, tmp_path: Path) -> None:
    with pytest.raises(Conflict, match="not trained yet"):
        OverlapModel.load(tmp_path)
    assert training_report(tmp_path) is None
    trained.save(tmp_path)
    assert is_trained(tmp_path) and not list(tmp_path.glob("*.new"))
    loaded = OverlapModel.load(tmp_path)
    samples = decode_audio(SAMPLE).samples[: 16_000 * 12]
    np.testing.assert_allclose(
        loaded.overlap_probabilities(samples), trained.overlap_probabilities(samples), atol=1e-6
    )
    assert not loaded.stale(tmp_path)
    assert training_report(tmp_path)["validation_auc"] == trained.meta["validation_auc"]
    trained.save(tmp_path)  # a newer model: the loaded one knows it is out of date
    assert loaded.stale(tmp_path) and not OverlapModel.load(tmp_path).stale(tmp_path)


def test_second_speaker_is_the_nearest_other_voice() -> None:
    turns = [(0.0, 1.0, 0), (1.0, 2.0, 1), (2.0, 2.5, 1), (3.0, 4.0, 0)]
    second = second_speakers(turns, 0.1, 45)
    assert second[:10].tolist() == [1] * 10  # only a later other voice
    assert second[10:25].tolist() == [0] * 15  # 1's turns: 0 before and after, either way 0
    assert second[25:30].tolist() == [-1] * 5  # a pause: nobody
    assert second[30:40].tolist() == [1] * 10
    assert second[40:].tolist() == [-1] * 5
    assert (second_speakers([(0.0, 2.0, 0), (3.0, 4.0, 0)], 0.1, 40) == -1).all()


def test_overlap_turns_follow_the_threshold() -> None:
    turns = [(0.0, 1.0, 0), (1.0, 2.0, 1)]
    overlapped = np.zeros(200)
    overlapped[80:120] = 0.8
    extra = overlap_turns(turns, overlapped, 0.5)
    assert extra == [(0.8, 1.0, 1), (1.0, 1.2, 0)]
    assert overlap_turns(turns, overlapped, 0.9) == []
    assert RESOLUTION == 0.01


def test_pipeline_gives_overlapped_speech_two_speakers(
    models: tuple, trained: OverlapModel
) -> None:
    vad, encoder = models
    audio = decode_audio(SAMPLE)
    options = DiarizationOptions(identify=False, overlap_threshold=0.2)
    plain = diarize(audio, vad, encoder, GE2E_MODEL_ID, options)
    both = diarize(audio, vad, encoder, GE2E_MODEL_ID, options, overlap_model=trained)
    off = DiarizationOptions(identify=False, overlap=False)
    assert diarize(audio, vad, encoder, GE2E_MODEL_ID, off, overlap_model=trained) == plain

    assert overlapped_seconds(plain.segments) == 0.0
    assert overlapped_seconds(both.segments) > 0.05
    assert [t.start for t in both.segments] == sorted(t.start for t in both.segments)
    assert {t.speaker for t in both.segments} == {t.speaker for t in plain.segments}


def test_bad_training_input_is_refused(clips: list[SpeechClip]) -> None:
    three_voices = [clip for clip in clips if clip.speaker in {"LJ", "1688", "2609"}]
    assert len({clip.speaker for clip in three_voices}) == 3
    with pytest.raises(InvalidDataset, match="at least 4 speakers"):
        train_overlap_model(three_voices, [], QUICK)
    with pytest.raises(InvalidParameter, match="steps"):
        train_overlap_model(clips, [], OverlapTrainOptions(steps=0))
    with pytest.raises(InvalidParameter, match="overlap_threshold"):
        DiarizationOptions(overlap_threshold=1.0).validate()
