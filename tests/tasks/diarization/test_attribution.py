"""Transcript pieces take the speaker who covers most of them."""

from __future__ import annotations

from dataclasses import dataclass

from tympan.tasks.diarization import SpeakerTurn, assign_speakers, speaker_at

TURNS = [
    SpeakerTurn(0.0, 4.0, "SPEAKER_00", "spk_a", "Ada"),
    SpeakerTurn(4.0, 6.0, "SPEAKER_01"),
    SpeakerTurn(6.0, 7.0, "SPEAKER_00", "spk_a", "Ada"),
    SpeakerTurn(12.0, 13.0, "SPEAKER_01"),
]


@dataclass
class Word:
    start: float
    end: float
    text: str


def test_max_overlap_summed_over_a_speakers_turns() -> None:
    assert speaker_at(2.5, 7.0, TURNS).name == "Ada"  # 1.5 + 1 s of Ada against 2 s
    assert speaker_at(3.5, 6.0, TURNS).speaker == "SPEAKER_01"
    assert speaker_at(3.95, 4.2, TURNS).speaker == "SPEAKER_01"


def test_pieces_in_gaps_take_the_nearest_turn_within_max_gap() -> None:
    assert speaker_at(7.5, 7.8, TURNS).name == "Ada"
    assert speaker_at(9.0, 9.5, TURNS) is None
    assert speaker_at(11.5, 11.9, TURNS).speaker == "SPEAKER_01"
    assert speaker_at(1.0, 2.0, []) is None


def test_assign_speakers_keeps_order() -> None:
    words = [Word(0.1, 0.5, "hi"), Word(4.2, 4.6, "yes"), Word(20, 21, "late")]
    labels = assign_speakers(words, TURNS)
    assert [t.speaker if t else None for t in labels] == ["SPEAKER_00", "SPEAKER_01", None]


def test_label_transcription_names_segments_and_words() -> None:
    from tympan.tasks.asr import Segment, Transcription, Word
    from tympan.tasks.diarization import label_transcription

    words = [Word("hi", 0.2, 0.6, 0.9), Word("yes", 4.3, 4.8, 0.9)]
    segments = [
        Segment(0, 0, 0.0, 1.0, " hi", [], 0.0, -0.1, 1.0, 0.0, words[:1]),
        Segment(1, 0, 4.2, 5.0, " yes", [], 0.0, -0.1, 1.0, 0.0, words[1:]),
    ]
    labelled = label_transcription(
        Transcription("transcribe", "en", 8.0, "hi yes", segments, words), TURNS
    )
    assert [(s.speaker, s.speaker_id) for s in labelled.segments] == [
        ("Ada", "spk_a"),
        ("SPEAKER_01", None),
    ]
    assert [w.speaker for w in labelled.words] == ["Ada", "SPEAKER_01"]
    assert labelled.segments[0].words[0].speaker == "Ada"
