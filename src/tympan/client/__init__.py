"""The Tympan SDK: typed methods over the HTTP API, with errors raised as Tympan's own.

    with Client("http://127.0.0.1:8000") as tympan:
        result = tympan.vad("meeting.wav")

``Client.in_process()`` runs the same API inside this process (no server, no port), which is
how the CLI works without ``--server`` and how the tests exercise the service end to end.
Each capability's methods live in their own module (``_asr.py``, ``_speakers.py``, ...).
"""

from __future__ import annotations

from tympan.client._asr import AsrMethods
from tympan.client._audio import AudioMethods
from tympan.client._base import BaseClient, FileInput
from tympan.client._classifiers import ClassifierMethods
from tympan.client._diarization import DiarizationMethods
from tympan.client._enhancement import EnhancementMethods
from tympan.client._finetuning import FineTuningMethods
from tympan.client._music import MusicMethods
from tympan.client._realtime import RealtimeMethods
from tympan.client._speakers import SpeakerMethods
from tympan.client._tts import SpeechMethods

__all__ = ["Client", "FileInput"]


class Client(
    AudioMethods,
    AsrMethods,
    SpeechMethods,
    SpeakerMethods,
    DiarizationMethods,
    EnhancementMethods,
    ClassifierMethods,
    FineTuningMethods,
    MusicMethods,
    RealtimeMethods,
    BaseClient,
):
    """A connection to a Tympan service (remote, or in-process with ``in_process``)."""
