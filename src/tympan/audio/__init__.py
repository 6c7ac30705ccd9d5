"""The audio boundary: decode once, down-mix, resample once, enforce limits; features."""

from tympan.audio.decode import AudioInput, decode_audio
from tympan.audio.types import Audio, SourceInfo

__all__ = ["Audio", "AudioInput", "SourceInfo", "decode_audio"]
