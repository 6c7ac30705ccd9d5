"""Tympan: self-hosted audio AI behind an OpenAI-compatible API.

The public surface: the SDK ``Client``, the boundary type ``Audio`` with ``decode_audio``,
``Settings``, and the task functions in ``tympan.tasks``.
"""

__version__ = "0.1.0"

from tympan.audio import Audio, decode_audio
from tympan.client import Client
from tympan.config import Settings

__all__ = ["Audio", "Client", "Settings", "__version__", "decode_audio"]
