"""Transcript pieces take the speaker who covers most of them."""

from __future__ import annotations

from dataclasses import dataclass, replace

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


def test_a_segment_is_split_where_its_words_change_speaker() -> None:
    from tympan.tasks.asr import Segment, Transcription, Word
    from tympan.tasks.diarization import label_transcription

    words = [
        Word(" Hello", 3.0, 3.4, 0.9),
        Word(" there.", 3.4, 3.9, 0.9),
        Word(" Hi", 4.1, 4.5, 0.9),
        Word(" Ada.", 4.5, 5.0, 0.9),
        Word(" Bye.", 6.2, 6.6, 0.9),
    ]
    segment = Segment(0, 0, 2.9, 6.8, " Hello there. Hi Ada. Bye.", [1, 2], 0.0, -0.1, 1.0, 0.0)
    transcription = Transcription("transcribe", "en", 8.0, segment.text.strip(), [segment], words)
    # without word times the segment is not split: it goes whole to the longest-covering speaker
    (whole,) = label_transcription(transcription, TURNS).segments
    assert whole.speaker == "SPEAKER_01" and whole.tokens == [1, 2]
    split = label_transcription(
        Transcription("transcribe", "en", 8.0, "", [replace(segment, words=words)], words), TURNS
    )
    assert [(s.id, s.start, s.end, s.text, s.speaker) for s in split.segments] == [
        (0, 2.9, 3.9, " Hello there.", "Ada"),
        (1, 4.1, 5.0, " Hi Ada.", "SPEAKER_01"),
        (2, 6.2, 6.8, " Bye.", "Ada"),
    ]
    assert all(s.tokens == [] for s in split.segments)
    assert [w.speaker for w in split.words] == ["Ada", "Ada", "SPEAKER_01", "SPEAKER_01", "Ada"]
    without_words = label_transcription(
        Transcription("transcribe", "en", 8.0, "", [replace(segment, words=words)], words),
        TURNS,
        keep_words=False,
    )
    assert len(without_words.segments) == 3 and without_words.words is None
    assert all(s.words is None for s in without_words.segments)


def test_words_no_turn_reaches_stay_with_their_neighbours() -> None:
    from tympan.tasks.asr import Segment, Word
    from tympan.tasks.diarization import split_at_speaker_changes

    words = [
        Word(" um", 9.0, 9.2, 0.5),  # no turn within a second: no speaker
        Word(" yes", 12.1, 12.5, 0.9, "SPEAKER_01"),
        Word(" so", 20.0, 20.2, 0.5),
    ]
    segment = Segment(0, 0, 9.0, 20.2, " um yes so", [], 0.0, -0.1, 1.0, 0.0, words)
    (only,) = split_at_speaker_changes(segment)
    assert only.speaker == "SPEAKER_01" and only.tokens == segment.tokens
    assert [w.speaker for w in only.words] == ["SPEAKER_01", "SPEAKER_01", None]


def test_words_of_the_sample_conversation_take_the_right_speaker(api) -> None:
    """Real tiny.en word times on the pyannote sample, its reference turns (sample.rttm):
    words are attributed one by one, so segments never mix the two voices, and more words
    land on the STM's speaker than when each segment takes one speaker whole."""
    from tests.speaker_data import DIARIZATION_DIR, read_rttm, read_stm, stm_speaker_at
    from tympan.tasks.diarization import label_pieces, label_transcription

    names = {"speaker90": "Diane", "speaker91": "Sheila"}
    turns = [
        SpeakerTurn(start, end, names[who])
        for start, end, who in read_rttm(DIARIZATION_DIR / "sample.rttm")
    ]
    stm = read_stm(DIARIZATION_DIR / "sample.stm")
    transcription = api.transcribe(DIARIZATION_DIR / "sample.wav", word_timestamps=True)
    labelled = label_transcription(transcription, turns)
    assert all(len({w.speaker for w in s.words}) == 1 for s in labelled.segments)
    assert "".join(s.text for s in labelled.segments) == "".join(
        s.text for s in transcription.segments
    )

    def right(pairs: list[tuple[str | None, float, float]]) -> float:
        hits = [who == stm_speaker_at(stm, (start + end) / 2) for who, start, end in pairs]
        return sum(hits) / len(hits)

    per_word = right([(w.speaker, w.start, w.end) for w in labelled.words])
    per_segment = right(
        [
            (segment.speaker, w.start, w.end)
            for segment in label_pieces(transcription.segments, turns)
            for w in segment.words
        ]
    )
    assert per_word >= 0.95 and per_word > per_segment, (per_word, per_segment)
