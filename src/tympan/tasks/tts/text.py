"""Text before synthesis: checked against the limits, then made safe and speakable.

OpenAI's endpoint reads ``input`` as plain text, so Tympan does too: markup tags are dropped
rather than spelled out (Tympan does not interpret SSML), control and format characters are
removed (espeak-ng refuses NUL), compatibility forms are folded (NFKC turns fullwidth digits
into digits it can read), and Piper's ``[[ raw phoneme ]]`` escape is disarmed so text stays text.
"""

from __future__ import annotations

import re
import unicodedata

from tympan.errors import BadRequest, PayloadTooLarge

__all__ = ["check_input", "clean_text"]

# Tag-shaped only (a letter right after "<"), so "a < b and c > d" is left alone.
_MARKUP = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>")
_SPACES = re.compile(r"\s+")


def check_input(text: str, max_chars: int) -> str:
    """``text`` if it has something in it and is within ``max_chars``; else a 4xx error."""
    if not text.strip():
        raise BadRequest(
            "input is empty; give the text to speak.", param="input", code="empty_input"
        )
    if len(text) > max_chars:
        raise PayloadTooLarge(
            f"input is {len(text)} characters; the limit is {max_chars} "
            "(TYMPAN_TTS_MAX_INPUT_CHARS).",
            param="input",
            code="input_too_long",
        )
    return text


def clean_text(text: str) -> str:
    """``text`` normalised for the phonemiser: no markup, control characters or raw phonemes."""
    text = unicodedata.normalize("NFKC", text)
    text = _MARKUP.sub(" ", text)
    text = "".join(
        " " if unicodedata.category(char) == "Cc" else char
        for char in text
        if unicodedata.category(char) not in ("Cf", "Cs", "Co", "Cn")
    )
    text = text.replace("[[", "[ [").replace("]]", "] ]")
    return _SPACES.sub(" ", text).strip()
