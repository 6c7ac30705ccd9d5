"""Deltas from repeated partial decodes: agreed words once, the rest at the end."""

from __future__ import annotations

from tympan.tasks.streaming import PartialText


def test_words_are_sent_once_two_decodes_agree_on_them():
    partial = PartialText()
    assert partial.update("So what") == " So"  # the first decode holds back its last word
    assert partial.update("So what kind of") == " what"
    assert partial.update("So what kind of thing") == " kind of"
    assert partial.finish("So what kind of thing.") == " thing."
    assert " ".join(partial.sent) == "So what kind of thing."


def test_a_first_decode_that_ends_in_a_pause_sends_its_last_word_too():
    partial = PartialText()
    assert partial.update("Hello?", at_pause=True) == " Hello?"  # no word was cut off
    assert partial.update("Hello? Hello, I", at_pause=True) == ""  # later ones must agree
    assert partial.update("Hello? Hello, I didn't") == " Hello, I"


def test_until_the_first_words_are_out_a_decode_need_not_agree_with_the_last():
    partial = PartialText()
    assert partial.update("Yes.") == ""  # one word, maybe cut off
    assert partial.update("Yeah, go") == " Yeah,"  # no agreement with "Yes." needed
    assert partial.update("Yeah, go for") == " go"  # words out: agreement from here on


def test_agreement_ignores_case_and_punctuation():
    partial = PartialText()
    partial.update("hello there friend")
    assert partial.update("Hello, there friend") == " friend"


def test_a_changed_prefix_sends_nothing_more_until_the_final_tail():
    partial = PartialText()
    partial.update("I need to design")
    partial.update("I need to design it")
    assert partial.sent == ["I", "need", "to", "design"]
    assert partial.update("I needed to sign in") == ""
    assert partial.finish("I needed to sign in.") == " in."  # after the 4 words sent


def test_a_word_changed_by_the_final_decode_does_not_hold_back_the_rest():
    partial = PartialText()
    partial.update("at present concerned, differs from")
    partial.update("at present concerned, differs from most if")
    assert partial.finish("at present concern, differs from most if not from all.") == (
        " most if not from all."
    )
    assert partial.finish("at present concern, differs from most if not from all.") == ""


def test_concatenated_deltas_spell_the_final_text_when_it_extends_them():
    partial = PartialText()
    deltas = [partial.update(h) for h in ("one two", "one two three", "one two three four")]
    deltas.append(partial.finish("one two three four five"))
    assert "".join(deltas).strip() == "one two three four five"


def test_deltas_go_on_after_a_decode_changed_words_already_sent():
    partial = PartialText()
    partial.update("I need to design")
    partial.update("I need to design it")
    partial.update("I needed to sign in")
    assert partial.update("I needed to sign in now") == " in"


def test_stable_words_are_sent_without_a_second_decode_agreeing():
    partial = PartialText()
    assert partial.update("Hello there") == " Hello"
    assert partial.update("Oh, hello there. I didn't know you", stable=3) == " there."
    assert partial.update("Oh, hello there. I didn't know you were", stable=3) == (
        " I didn't know you"
    )
