import pytest

from tympan.errors import BadRequest, PayloadTooLarge
from tympan.tasks.tts import check_input, clean_text


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_input_is_refused(text):
    with pytest.raises(BadRequest) as caught:
        check_input(text, 100)
    assert caught.value.code == "empty_input"
    assert caught.value.param == "input"


def test_input_over_the_limit_is_refused_and_at_the_limit_accepted():
    assert check_input("a" * 100, 100) == "a" * 100
    with pytest.raises(PayloadTooLarge) as caught:
        check_input("a" * 101, 100)
    assert caught.value.status == 413
    assert "101" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Hello\x00 world\x07!", "Hello world !"),
        ("<speak>Hi <break time='1s'/> there</speak>", "Hi there"),
        ("if a < b and c > d", "if a < b and c > d"),
        ("\u202eabc\u200b\ufeffdef", "abcdef"),
        ("\uff11\uff12\uff13 apples", "123 apples"),
        ("[[ h@l ]] world", "[ [ h@l ] ] world"),
        ("line one\nline two\r\n", "line one line two"),
        ("bad \ud800 surrogate", "bad surrogate"),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean
