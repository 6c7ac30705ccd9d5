"""The SDK rebuilds Tympan's own errors from HTTP error bodies."""

from __future__ import annotations

import pytest

from tympan.errors import (
    AudioTooLong,
    InvalidAudio,
    InvalidParameter,
    Overloaded,
    TympanError,
    UnsupportedMedia,
    error_for_status,
)


@pytest.mark.parametrize(
    "error",
    [InvalidAudio("x"), UnsupportedMedia("x"), AudioTooLong("x"), InvalidParameter("x", param="n")],
)
def test_round_trip(error: TympanError) -> None:
    rebuilt = error_for_status(error.status, error.to_body())
    assert type(rebuilt) is type(error) and rebuilt.param == error.param


def test_unknown_bodies_fall_back_to_the_status() -> None:
    assert isinstance(error_for_status(503, {}), Overloaded)
    assert type(error_for_status(418, None)) is TympanError


def test_sdk_raises_on_error_status(api, eval_dir) -> None:
    with pytest.raises(UnsupportedMedia) as info:
        api.vad(eval_dir / "bad_inputs" / "video_only.mp4")
    assert info.value.status == 400 and info.value.param == "file"
