"""The Tympan SDK: typed methods over the HTTP API, with errors raised as Tympan's own.

    with Client("http://127.0.0.1:8000") as tympan:
        result = tympan.vad("meeting.wav")

``Client.in_process()`` runs the same API inside this process (no server, no port), which is
how the CLI works without ``--server`` and how the tests exercise the service end to end.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import numpy as np

from tympan.audio.encode import EncodedFormat
from tympan.audio.features import FeatureKind, Features
from tympan.config import SAMPLE_RATE, Settings
from tympan.errors import TympanError, error_for_status
from tympan.tasks.asr.results import Segment, Transcription, Word
from tympan.tasks.classifiers import (
    Detection,
    DetectionResult,
    ExamplesResult,
    LabelScore,
    Prediction,
)
from tympan.tasks.diarization import (
    ClusteringMethod,
    DiarizationResult,
    DiarizedSpeaker,
    SpeakerTurn,
)
from tympan.tasks.music import Composition, MusicNote
from tympan.tasks.speakers import Candidate, Embedding, Identification, Speaker, Verification
from tympan.tasks.tts import VoiceCard
from tympan.tasks.vad import SpeechSegment, VadMethod, VadResult

__all__ = ["Client", "FileInput"]

FileInput = str | os.PathLike[str] | bytes | BinaryIO
"""A path, raw bytes, or an open binary file."""


def _file_part(file: FileInput, default_name: str = "audio") -> tuple[str, Any]:
    if isinstance(file, bytes):
        return (default_name, file)
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        return (path.name, path.read_bytes())
    return (Path(getattr(file, "name", default_name)).name, file)


def _form(values: Mapping[str, Any]) -> dict[str, str]:
    """Form fields without the ``None`` ones, as strings."""
    return {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in values.items()
        if v is not None
    }


def _speaker(body: dict[str, Any]) -> Speaker:
    times = {key: datetime.fromisoformat(body[key]) for key in ("created_at", "updated_at")}
    return Speaker(**{**body, **times})


def _raise_for_status(response: httpx.Response) -> None:
    """Raise the matching ``TympanError`` when ``response`` (already read) is an error."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"error": {"message": response.text}}
    error = error_for_status(response.status_code, body)
    if "retry-after" in response.headers:
        error.retry_after = float(response.headers["retry-after"])
    raise error


class Client:
    """A connection to a Tympan service (remote, or in-process with ``in_process``)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 600.0,
        http: httpx.Client | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._http.headers.update(headers)
        self._on_close: list[Any] = []

    @classmethod
    def in_process(cls, settings: Settings | None = None, api_key: str | None = None) -> Client:
        """A client over an app running in this process (started now, stopped by ``close``)."""
        from starlette.testclient import TestClient  # a synchronous ASGI transport

        from tympan.api.app import create_app

        runner = TestClient(create_app(settings), raise_server_exceptions=False)
        runner.__enter__()
        client = cls(api_key=api_key, http=runner)
        client._on_close.append(lambda: runner.__exit__(None, None, None))
        return client

    def close(self) -> None:
        """Close the connection (and stop an in-process app)."""
        for closer in self._on_close:
            closer()
        self._on_close.clear()
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; raise the matching ``TympanError`` for any error status."""
        response = self._http.request(method, path, **kwargs)
        _raise_for_status(response)
        return response

    def post_audio(
        self, path: str, file: FileInput, fields: Mapping[str, Any], *, file_field: str = "file"
    ) -> httpx.Response:
        """POST a multipart form with one audio file and the non-``None`` fields."""
        return self.request("POST", path, files={file_field: _file_part(file)}, data=_form(fields))

    # -- system ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /healthz``."""
        return self.request("GET", "/healthz").json()

    def models(self, task: str | None = None) -> list[dict[str, Any]]:
        """Every model the service can serve (``GET /v1/models``)."""
        params = {"task": task} if task else None
        return self.request("GET", "/v1/models", params=params).json()["data"]

    # -- features and VAD -----------------------------------------------------------------

    def features(
        self,
        file: FileInput,
        kind: FeatureKind = "log_mel",
        *,
        n_fft: int | None = None,
        hop_length: int | None = None,
        n_mels: int | None = None,
        n_mfcc: int | None = None,
        fmin: float | None = None,
        fmax: float | None = None,
        deltas: int | None = None,
    ) -> Features:
        """Frame features of ``file`` as a ``Features`` record (values: frames x dims)."""
        fields = {
            "kind": kind,
            "n_fft": n_fft,
            "hop_length": hop_length,
            "n_mels": n_mels,
            "n_mfcc": n_mfcc,
            "fmin": fmin,
            "fmax": fmax,
            "deltas": deltas,
            "format": "npy",
        }
        response = self.post_audio("/v1/audio/features", file, fields)
        values = np.load(io.BytesIO(response.content), allow_pickle=False)
        return Features(kind, values, SAMPLE_RATE, hop_length or 160, deltas or 0)

    def vad(
        self,
        file: FileInput,
        method: VadMethod | None = None,
        *,
        threshold: float | None = None,
        neg_threshold: float | None = None,
        min_speech_ms: int | None = None,
        min_silence_ms: int | None = None,
        speech_pad_ms: int | None = None,
    ) -> VadResult:
        """Speech segments of ``file``."""
        fields = {
            "method": method,
            "threshold": threshold,
            "neg_threshold": neg_threshold,
            "min_speech_ms": min_speech_ms,
            "min_silence_ms": min_silence_ms,
            "speech_pad_ms": speech_pad_ms,
        }
        body = self.post_audio("/v1/audio/vad", file, fields).json()
        segments = [SpeechSegment(**segment) for segment in body.pop("segments")]
        return VadResult(segments=segments, **body)

    # -- classifiers ----------------------------------------------------------------------

    def train_classifier(
        self,
        name: str,
        data: str | os.PathLike[str] | bytes,
        *,
        arch: str = "transfer",
        server_path: bool = False,
        **options: Any,
    ) -> dict[str, Any]:
        """Start training ``name`` on a dataset; returns the job (see ``wait_job``).

        ``data`` is a folder per class, a manifest CSV, a zip (path or bytes). Folders and
        manifests are zipped and uploaded, unless ``server_path`` says the server can read
        ``data`` itself. ``options`` are ``TrainConfig`` fields (max_epochs, quantize, ...).
        """
        from tympan.tasks.classifiers.dataset import zip_dataset

        fields = _form({"name": name, "arch": arch, **options})
        if server_path:
            fields["path"] = str(Path(data).resolve())  # type: ignore[arg-type]
            return self.request("POST", "/v1/classifiers", data=fields).json()
        if isinstance(data, bytes):
            payload = data
        elif Path(data).suffix.lower() == ".zip":
            payload = Path(data).read_bytes()
        else:
            payload = zip_dataset(Path(data))
        files = {"dataset": ("dataset.zip", payload, "application/zip")}
        return self.request("POST", "/v1/classifiers", data=fields, files=files).json()

    def classifiers(self) -> list[dict[str, Any]]:
        """Every classifier and its served version (``GET /v1/classifiers``)."""
        return self.request("GET", "/v1/classifiers").json()

    def classifier_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of ``name`` with metrics, fingerprint, config and checksums."""
        return self.request("GET", f"/v1/classifiers/{name}/versions").json()

    def classifier_report(
        self, name: str, version: int | None = None, *, format: str = "json"
    ) -> dict[str, Any] | str:
        """A version's evaluation report: a dict (``json``) or markdown text."""
        path = f"/v1/classifiers/{name}/" + (f"versions/{version}/" if version else "") + "report"
        response = self.request("GET", path, params={"format": format})
        return response.json() if format == "json" else response.text

    def classifier_file(self, name: str, version: int, file: str) -> bytes:
        """A report file of a version (``confusion.png``, ``curves.png``, ...)."""
        return self.request("GET", f"/v1/classifiers/{name}/versions/{version}/{file}").content

    def promote_classifier(
        self, name: str, version: int, stage: str = "production"
    ) -> dict[str, Any]:
        """Move a version to ``staging``, ``production`` or ``archived``."""
        body = {"version": version, "stage": stage}
        return self.request("POST", f"/v1/classifiers/{name}/promote", json=body).json()

    def rollback_classifier(self, name: str) -> dict[str, Any]:
        """Restore the previous production version of ``name``."""
        return self.request("POST", f"/v1/classifiers/{name}/rollback").json()

    def predict(
        self, name: str, file: FileInput, *, version: int | None = None, top_k: int | None = None
    ) -> Prediction:
        """The most probable labels of a clip."""
        fields = {"version": version, "top_k": top_k}
        body = self.post_audio(f"/v1/classifiers/{name}/predict", file, fields).json()
        top = [LabelScore(**item) for item in body.pop("top")]
        return Prediction(top=top, **body)

    def detect(
        self,
        name: str,
        file: FileInput,
        *,
        version: int | None = None,
        threshold: float | None = None,
    ) -> DetectionResult:
        """Timed events of ``name``'s labels in a long recording."""
        fields = {"version": version, "threshold": threshold}
        body = self.post_audio(f"/v1/classifiers/{name}/detect", file, fields).json()
        events = [Detection(**event) for event in body.pop("events")]
        return DetectionResult(events=events, **body)

    def add_examples(
        self, name: str, label: str, files: list[FileInput], *, version: int | None = None
    ) -> ExamplesResult:
        """Add labelled clips (a new label too): a new version without full retraining."""
        parts = [("files", _file_part(file)) for file in files]
        fields = _form({"label": label, "version": version})
        body = self.request(
            "POST", f"/v1/classifiers/{name}/examples", data=fields, files=parts
        ).json()
        return ExamplesResult(**body)

    # -- speakers -------------------------------------------------------------------------

    def speaker_embedding(self, file: FileInput, *, model: str | None = None) -> Embedding:
        """The L2-normalised speaker embedding of ``file`` (``POST /v1/speakers/embed``)."""
        body = self.post_audio("/v1/speakers/embed", file, {"model": model}).json()
        return Embedding(**body)

    def enroll_speaker(
        self,
        name: str,
        files: FileInput | Sequence[FileInput],
        *,
        metadata: Mapping[str, Any] | None = None,
        model: str | None = None,
    ) -> Speaker:
        """Enroll a speaker from one or more recordings (``POST /v1/speakers``)."""
        fields = {
            "name": name,
            "metadata": json.dumps(dict(metadata)) if metadata is not None else None,
            "model": model,
        }
        return _speaker(self._post_files("/v1/speakers", files, fields))

    def add_speaker_samples(
        self, speaker_id: str, files: FileInput | Sequence[FileInput]
    ) -> Speaker:
        """Add recordings to a speaker and update its voiceprint."""
        return _speaker(self._post_files(f"/v1/speakers/{speaker_id}/samples", files, {}))

    def speakers(self) -> list[Speaker]:
        """Every enrolled speaker."""
        return [_speaker(body) for body in self.request("GET", "/v1/speakers").json()]

    def speaker(self, speaker_id: str) -> Speaker:
        """One enrolled speaker."""
        return _speaker(self.request("GET", f"/v1/speakers/{speaker_id}").json())

    def delete_speaker(self, speaker_id: str) -> None:
        """Delete a speaker with its samples and voiceprint."""
        self.request("DELETE", f"/v1/speakers/{speaker_id}")

    def verify_speaker(
        self,
        file: FileInput,
        *,
        speaker_id: str | None = None,
        file2: FileInput | None = None,
        threshold: float | None = None,
        model: str | None = None,
    ) -> Verification:
        """Is ``file`` the enrolled ``speaker_id`` (or the speaker of ``file2``)?"""
        files = [("file", _file_part(file))]
        if file2 is not None:
            files.append(("file2", _file_part(file2, "audio2")))
        fields = {"speaker_id": speaker_id, "threshold": threshold, "model": model}
        response = self.request("POST", "/v1/speakers/verify", files=files, data=_form(fields))
        return Verification(**response.json())

    def identify_speaker(
        self,
        file: FileInput,
        *,
        speaker_ids: Sequence[str] | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        model: str | None = None,
    ) -> Identification:
        """Which enrolled speaker (of ``speaker_ids``) speaks; ``speaker`` is None if nobody."""
        fields = {
            "speaker_ids": ",".join(speaker_ids) if speaker_ids is not None else None,
            "threshold": threshold,
            "top_k": top_k,
            "model": model,
        }
        body = self.post_audio("/v1/speakers/identify", file, fields).json()
        best = body.pop("speaker")
        return Identification(
            speaker=Candidate(**best) if best else None,
            ranking=[Candidate(**item) for item in body.pop("ranking")],
            **body,
        )

    def _post_files(
        self, path: str, files: FileInput | Sequence[FileInput], fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        many = files if isinstance(files, list | tuple) else [files]
        parts = [("file", _file_part(item)) for item in many]
        return self.request("POST", path, files=parts, data=_form(fields)).json()

    # -- diarization ----------------------------------------------------------------------

    def diarize(
        self,
        file: FileInput,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        clustering: ClusteringMethod | None = None,
        identify: bool | None = None,
        threshold: float | None = None,
        model: str | None = None,
    ) -> DiarizationResult:
        """Who spoke when in ``file``; enrolled speakers come back named."""
        fields = {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
            "clustering": clustering,
            "identify": identify,
            "threshold": threshold,
            "model": model,
        }
        body = self.post_audio("/v1/audio/diarization", file, fields).json()
        return DiarizationResult(
            speakers=[DiarizedSpeaker(**item) for item in body.pop("speakers")],
            segments=[SpeakerTurn(**item) for item in body.pop("segments")],
            **body,
        )

    def diarize_rttm(
        self,
        file: FileInput,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        model: str | None = None,
    ) -> str:
        """The diarization of ``file`` as RTTM text."""
        fields = {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
            "model": model,
            "response_format": "rttm",
        }
        return self.post_audio("/v1/audio/diarization", file, fields).text

    # -- asr ----------------------------------------------------------------------------

    def transcribe(
        self,
        file: FileInput,
        *,
        model: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        word_timestamps: bool = False,
        beam_size: int | None = None,
        vad_filter: bool | None = None,
        hotwords: str | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        **options: Any,
    ) -> Transcription:
        """Transcribe ``file`` (``POST /v1/audio/transcriptions``, ``verbose_json``).

        ``on_progress(fraction, text_so_far)`` turns on streaming, so long recordings report
        each finished chunk; ``options`` are further decoding fields (``best_of``, ...).
        """
        fields = {
            "model": model,
            "language": language,
            "prompt": prompt,
            "temperature": temperature,
            "beam_size": beam_size,
            "vad_filter": vad_filter,
            "hotwords": hotwords,
            "word_timestamps": word_timestamps or None,
            **options,
        }
        return self._transcription("/v1/audio/transcriptions", file, fields, on_progress)

    def translate(
        self,
        file: FileInput,
        *,
        model: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        **options: Any,
    ) -> Transcription:
        """Translate the speech in ``file`` to English (``POST /v1/audio/translations``)."""
        fields = {"model": model, "prompt": prompt, "temperature": temperature, **options}
        return self._transcription("/v1/audio/translations", file, fields, on_progress)

    def _transcription(
        self,
        path: str,
        file: FileInput,
        fields: dict[str, Any],
        on_progress: Callable[[float, str], None] | None,
    ) -> Transcription:
        if on_progress is None:
            fields = {**fields, "response_format": "verbose_json"}
            return Client._transcription_from(self.post_audio(path, file, fields).json())
        request = self._http.build_request(
            "POST", path, files={"file": _file_part(file)}, data=_form({**fields, "stream": True})
        )
        response = self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise error_for_status(response.status_code, response.json())
            text = ""
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line.removeprefix("data: "))
                if event["type"] == "transcript.text.delta":
                    text += event["delta"]
                    on_progress(event["progress"], text.strip())
                elif event["type"] == "transcript.text.done":
                    return Client._transcription_from(event["transcription"])
                elif event["type"] == "error":
                    raise error_for_status(event.get("status", 400), event)
        finally:
            response.close()
        raise TympanError("The transcription stream ended without a result.")

    @staticmethod
    def _transcription_from(body: dict[str, Any]) -> Transcription:
        """A ``verbose_json`` body as a ``Transcription`` record."""

        def words(items: list[dict[str, Any]] | None) -> list[Word] | None:
            return None if items is None else [Word(**item) for item in items]

        segments = [
            Segment(**{**item, "words": words(item.get("words"))}) for item in body["segments"]
        ]
        return Transcription(
            task=body["task"],
            language=body["language"],
            duration=body["duration"],
            text=body["text"],
            segments=segments,
            words=words(body.get("words")),
        )

    # -- music ----------------------------------------------------------------------------

    def music_generate(
        self,
        prompt: FileInput | None = None,
        *,
        notes: list[dict[str, Any]] | None = None,
        abc: str | None = None,
        model: str | None = None,
        bars: int | None = None,
        seconds: float | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        tempo: float | None = None,
        instrument: int | None = None,
        key: str | None = None,
        meter: str | None = None,
        stay_in_key: bool | None = None,
        strict_bars: bool | None = None,
        response_format: str = "midi",
    ) -> bytes | Composition:
        """Continue a melody (MIDI ``prompt``, ``notes`` in beats, or ``abc``) or compose anew.

        Returns the file's bytes (midi, wav, mp3, flac) or, for ``json``, a ``Composition``.
        """
        fields = {
            "model": model,
            "bars": bars,
            "seconds": seconds,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "seed": seed,
            "tempo": tempo,
            "instrument": instrument,
            "key": key,
            "meter": meter,
            "stay_in_key": stay_in_key,
            "strict_bars": strict_bars,
            "response_format": response_format,
        }
        if prompt is not None:
            fields["abc"] = abc
            response = self.post_audio("/v1/music/generations", prompt, fields, file_field="prompt")
        else:
            body = {**fields, "notes": notes, "abc": abc}
            body = {name: value for name, value in body.items() if value is not None}
            response = self.request("POST", "/v1/music/generations", json=body)
        if response_format != "json":
            return response.content
        data = response.json()
        data["notes"] = [MusicNote(**note) for note in data["notes"]]
        return Composition(**data)

    def music_train(
        self,
        model: str = "folk-lstm",
        *,
        max_seconds: float | None = None,
        wait: bool = True,
        on_progress: Any = None,
    ) -> dict[str, Any]:
        """Train a music model (``POST /v1/music/train``); waits for the job unless ``wait``
        is False. Returns the job (its ``result`` holds the training report)."""
        body = {"model": model, "max_seconds": max_seconds}
        job = self.request("POST", "/v1/music/train", json=body).json()
        return self.wait_job(job["id"], on_progress=on_progress) if wait else job

    # -- tts ------------------------------------------------------------------------------

    def speech(
        self,
        text: str,
        voice: str | None = None,
        *,
        model: str | None = None,
        response_format: EncodedFormat = "mp3",
        speed: float | None = None,
    ) -> bytes:
        """``text`` spoken, as the bytes of one ``response_format`` file."""
        return b"".join(
            self.speech_stream(
                text, voice, model=model, response_format=response_format, speed=speed
            )
        )

    def speech_stream(
        self,
        text: str,
        voice: str | None = None,
        *,
        model: str | None = None,
        response_format: EncodedFormat = "mp3",
        speed: float | None = None,
    ) -> Iterator[bytes]:
        """``text`` spoken, as the byte chunks the server streams while it synthesises."""
        body = {
            "model": model,
            "input": text,
            "voice": voice,
            "response_format": response_format,
            "speed": speed,
        }
        payload = {key: value for key, value in body.items() if value is not None}
        with self._http.stream("POST", "/v1/audio/speech", json=payload) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for_status(response)
            yield from response.iter_bytes()

    def voices(self) -> list[VoiceCard]:
        """Every voice the service speaks with (``GET /v1/audio/voices``)."""
        cards = self.request("GET", "/v1/audio/voices").json()["data"]
        return [VoiceCard(**card) for card in cards]

    # -- jobs -----------------------------------------------------------------------------

    def job(self, job_id: str) -> dict[str, Any]:
        """A background job's state (``GET /v1/jobs/{id}``)."""
        return self.request("GET", f"/v1/jobs/{job_id}").json()

    def wait_job(
        self, job_id: str, *, timeout: float = 3600.0, poll: float = 0.5, on_progress: Any = None
    ) -> dict[str, Any]:
        """Poll a job until it ends; ``on_progress(fraction, message)`` sees each update.

        Raises the job's error as a ``TympanError`` when it fails.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_progress is not None:
                on_progress(job["progress"], job["message"])
            if job["status"] == "succeeded":
                return job
            if job["status"] == "failed":
                error = job.get("error") or {}
                status = 500 if error.get("code") == "internal_error" else 400
                raise error_for_status(status, {"error": error})
            if time.monotonic() > deadline:
                raise TympanError(f"Job {job_id} did not finish within {timeout:g} s.")
            time.sleep(poll)
