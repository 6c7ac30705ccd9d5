"""``multimodal`` classifiers on real clips: transcripts, text features, training, serving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.classifier_data import ravdess_sentences
from tests.conftest import EVAL_DIR, make_settings
from tympan.audio import decode_audio
from tympan.audio.encode import encode_audio
from tympan.errors import UnsupportedOperation
from tympan.models.registry import ModelRegistry
from tympan.tasks.classifiers.dataset import load_dataset
from tympan.tasks.classifiers.export import ModelMeta, OnnxClassifier
from tympan.tasks.classifiers.features import ENCODER_DIM, FeatureCache, WhisperEncoder
from tympan.tasks.classifiers.pipeline import run_training
from tympan.tasks.classifiers.predict import classify, detect_events
from tympan.tasks.classifiers.text_features import TEXT_FEATURES_FILE, TextFeatures
from tympan.tasks.classifiers.train import TrainConfig
from tympan.tasks.classifiers.transcripts import (
    TRANSCRIPT_MODEL_ID,
    TRANSCRIPT_RECIPE,
    transcribe_clips,
    transcript_jobs,
)
from tympan.tasks.vad import SpeechSegment

TINY = TrainConfig(arch="multimodal", max_epochs=15, patience=5, augment_copies=0)


@pytest.fixture(scope="module")
def models(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The bundled ASR (loaded once for the module) and the Whisper encoder."""
    settings = make_settings(tmp_path_factory.mktemp("multimodal-models"))
    asr = ModelRegistry.from_settings(settings).get(TRANSCRIPT_MODEL_ID, task="asr").load()
    yield asr, WhisperEncoder(threads=1)
    asr.close()


@pytest.fixture(scope="module")
def trained(models, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Sentence ("kids" / "dogs") classifier: 4 actors x neutral, angry (16 clips)."""
    asr, encoder = models
    root = tmp_path_factory.mktemp("sentences")
    dataset = load_dataset(ravdess_sentences(root / "data", (1, 2, 3, 4), ("neutral", "angry")))
    cache = FeatureCache(root / "cache")
    version = run_training(
        dataset, TINY, root / "version", cache, encoder, 60.0, lambda *_: None, asr=asr
    )
    return version, dataset, cache


def test_transcript_jobs_cut_long_clips_into_30_s_pieces() -> None:
    audio = decode_audio(
        EVAL_DIR / "noise" / "audio" / "speechcommands__doing_the_dishes.opus"
    ).slice(0, 65)
    jobs = transcript_jobs(audio)
    assert [job.offset for job in jobs] == [0.0, 30.0, 60.0]
    assert sum(job.samples.size for job in jobs) == audio.samples.size


def test_training_transcribes_each_clip_once_with_the_bundled_asr(trained) -> None:
    _, dataset, cache = trained
    (stored,) = cache.get_or_compute(
        dataset.fingerprint, TRANSCRIPT_RECIPE, lambda: pytest.fail("transcripts not cached")
    )
    assert len(stored) == len(dataset.examples) == 16
    for text, example in zip(stored, dataset.examples, strict=True):
        assert "door" in text.lower() and example.label in text.lower(), (text, example.label)


def test_text_features_keep_the_training_vocabulary() -> None:
    text = TextFeatures.fit(["Kids are talking by the door.", "Dogs are sitting by the door!"])
    rows = text.transform(["dogs sitting", "zebras"])
    assert rows.shape == (2, text.dim) and rows.dtype == np.float32 and text.dim > 10
    assert rows[0].any() and not rows[1, : len(text.parts["words"].vocabulary_)].any()


def test_text_features_round_trip_through_json(tmp_path) -> None:
    text = TextFeatures.fit(["Kids are talking by the door.", "Dogs are sitting by the door!"])
    text.save(tmp_path / TEXT_FEATURES_FILE)
    loaded = TextFeatures.load(tmp_path / TEXT_FEATURES_FILE)
    said = ["kids sitting by the door", ""]
    assert np.array_equal(loaded.transform(said), text.transform(said))


def test_no_words_give_no_text_columns() -> None:
    text = TextFeatures.fit(["", " ", ""])
    assert text.dim == 0 and text.transform(["anything"]).shape == (1, 0)


def test_training_reports_each_branch_and_the_fused_network(trained) -> None:
    version, _, _ = trained
    branches = version.context["multimodal"]
    assert branches["transcripts"] == 16 and branches["empty_transcripts"] == 0
    assert branches["text_features"] > 0
    for key in ("audio_only_accuracy", "text_only_accuracy"):
        assert 0.0 <= branches[key] <= 1.0 and version.metrics[key] == branches[key]
    assert branches["text_only_accuracy"] >= 0.75  # the words name the sentence
    assert branches["fused_accuracy"] == version.evaluation.accuracy
    meta = ModelMeta.from_json((version.folder / "meta.json").read_text())
    assert meta.arch == "multimodal"
    assert meta.input_dim == ENCODER_DIM + branches["text_features"]
    stored = json.loads((version.folder / TEXT_FEATURES_FILE).read_text())
    assert set(stored) == {"words", "chars"} and "door" in stored["words"]["vocabulary"]


def _served(version) -> OnnxClassifier:  # type: ignore[no-untyped-def]
    folder = version.folder
    meta = ModelMeta.from_json((folder / "meta.json").read_text())
    return OnnxClassifier(
        folder / "model.onnx", meta, text=TextFeatures.load(folder / TEXT_FEATURES_FILE)
    )


@pytest.mark.parametrize(
    ("clip", "label"), [("03-01-05-01-01-01-09", "kids"), ("03-01-05-02-02-01-09", "dogs")]
)
def test_predict_fuses_audio_and_transcript_of_an_unseen_actor(
    models, trained, clip, label
) -> None:
    asr, encoder = models
    version, _, _ = trained
    audio = decode_audio(EVAL_DIR / "emotion" / "audio" / f"{clip}.flac")
    (transcript,) = transcribe_clips(asr, [audio])
    prediction = classify("sentences:1", _served(version), audio, encoder, 2, None, transcript)
    assert prediction.transcript == transcript and "door" in transcript.lower()
    assert prediction.label == label and len(prediction.top) == 2


def test_predict_needs_the_transcript(models, trained) -> None:
    _, encoder = models
    version, _, _ = trained
    clip = decode_audio(EVAL_DIR / "emotion" / "audio" / "03-01-05-01-01-01-09.flac")
    with pytest.raises(ValueError, match="transcripts"):
        classify("sentences:1", _served(version), clip, encoder)


def test_detect_is_refused_with_a_clear_400(models, trained) -> None:
    _, encoder = models
    version, _, _ = trained
    clip = decode_audio(EVAL_DIR / "emotion" / "audio" / "03-01-05-01-01-01-09.flac")
    with pytest.raises(UnsupportedOperation, match="multimodal") as error:
        detect_events(
            "sentences:1", _served(version), clip, [SpeechSegment(0.0, 1.0, 0.9)], encoder
        )
    assert error.value.status == 400


def _noise_clips(folder: Path) -> Path:
    """2 s pieces of real rain and sea recordings (no speech), as WAV files per class."""
    for kind, name in (("rain", "blanket__rain"), ("waves", "blanket__waves")):
        recording = decode_audio(EVAL_DIR / "noise" / "audio" / f"{name}.opus")
        (folder / kind).mkdir(parents=True)
        for index in range(4):
            piece = recording.slice(2.0 * index, 2.0 * index + 2.0)
            (folder / kind / f"{index}.wav").write_bytes(encode_audio(piece.samples, 16_000, "wav"))
    return folder


def test_clips_without_speech_train_on_audio_alone(models, tmp_path) -> None:
    asr, encoder = models
    dataset = load_dataset(_noise_clips(tmp_path / "data"))
    version = run_training(
        dataset,
        TINY,
        tmp_path / "version",
        FeatureCache(tmp_path / "cache"),
        encoder,
        60.0,
        lambda *_: None,
        asr=asr,
    )
    branches = version.context["multimodal"]
    assert branches["empty_transcripts"] == branches["transcripts"] == 8
    assert branches["text_features"] == 0 and branches["text_only_accuracy"] is None
    assert ModelMeta.from_json((version.folder / "meta.json").read_text()).input_dim == ENCODER_DIM
    assert (version.folder / "model.onnx").is_file()
