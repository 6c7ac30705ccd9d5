"""One exception hierarchy for Tympan, mapped to HTTP in exactly one place.

    TympanError                      500  our own bug (never raised on purpose)
    ├── BadRequest                   400
    │   ├── InvalidAudio             400  empty, undecodable or silent-by-construction input
    │   ├── InvalidDataset           400  a dataset that cannot be trained on
    │   ├── InvalidParameter         400  a parameter missing, out of range or of the wrong kind
    │   ├── UnsupportedMedia         400  a file with no audio stream, or a format FFmpeg refuses
    │   └── UnsupportedOperation     400  the model cannot do this (e.g. translate with .en)
    ├── AuthenticationFailed         401  missing or wrong API key
    ├── PermissionDenied             403
    ├── NotFound                     404
    │   ├── ModelNotFound            404
    │   └── ResourceNotFound         404  speaker, classifier, job, ...
    ├── Conflict                     409  the resource already exists or is busy
    │   ├── JobCancelled             409  a job stopped on request (raised inside its work)
    │   └── ModelTraining            409  the model is being trained (job_id, Location, Retry-After)
    ├── PayloadTooLarge              413
    │   ├── UploadTooLarge           413  more bytes than max_upload_bytes
    │   ├── AudioTooLong             413  more seconds than max_audio_seconds (found while decoding)
    │   └── BudgetExceeded           413  more work than a per-request budget allows
    ├── RateLimited                  429  (with Retry-After)
    └── Overloaded                   503  inference queue full (with Retry-After)
        ├── DeadlineExceeded         503  the request ran past its time limit (with Retry-After)
        └── ArtifactStoreUnavailable 503  TYMPAN_ARTIFACT_URL's store did not answer (Retry-After)

Every error serialises to OpenAI's body: ``{"error": {"message", "type", "param", "code"}}``.

Statuses follow OpenAI's where OpenAI has one: a bad parameter and a file that is not audio are
400 (``invalid_request_error``), as OpenAI answers them, never FastAPI's 422 or 415, so the
official clients raise ``BadRequestError`` for both; the ``code`` tells them apart. One
deliberate difference: audio over ``max_audio_seconds`` is 413 like an upload over
``max_upload_bytes`` (OpenAI answers 400 ``invalid_value`` for audio over a model's maximum),
because every limit of Tympan's is one status a client can retry smaller on.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ArtifactStoreUnavailable",
    "AudioTooLong",
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "Conflict",
    "DeadlineExceeded",
    "InvalidAudio",
    "InvalidDataset",
    "InvalidParameter",
    "JobCancelled",
    "ModelNotFound",
    "ModelTraining",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "ResourceNotFound",
    "TympanError",
    "UnsupportedMedia",
    "UnsupportedOperation",
    "UploadTooLarge",
    "error_for_status",
]


class TympanError(Exception):
    """Base of every error Tympan raises on purpose; a bare one means a bug (500)."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        if code is not None:
            self.code = code  # type: ignore[misc]

    def to_body(self) -> dict[str, Any]:
        """The OpenAI-style error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class BadRequest(TympanError):
    """The request cannot be served as sent."""

    status = 400
    type = "invalid_request_error"
    code = "bad_request"


class InvalidAudio(BadRequest):
    """The upload is empty, undecodable, or holds no samples."""

    code = "invalid_audio"


class InvalidDataset(BadRequest):
    """A training dataset is unreadable or unfit (one class, too few examples, ...)."""

    code = "invalid_dataset"


class InvalidParameter(BadRequest):
    """A parameter is missing, out of range, or of the wrong kind."""

    code = "invalid_parameter"


class UnsupportedMedia(BadRequest):
    """A file that holds no audio stream, or a media type Tympan does not accept."""

    code = "unsupported_media_type"


class UnsupportedOperation(BadRequest):
    """The chosen model cannot perform this operation."""

    code = "unsupported_operation"


class AuthenticationFailed(TympanError):
    """No API key, or one the server does not know."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(TympanError):
    """The key is valid but not allowed to do this."""

    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(TympanError):
    """The addressed thing does not exist."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    """No model with that id is registered."""

    code = "model_not_found"


class ResourceNotFound(NotFound):
    """No speaker, classifier, job or version with that id."""

    code = "resource_not_found"


class Conflict(TympanError):
    """The resource already exists, or is in a state that forbids the change."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


class JobCancelled(Conflict):
    """A job's work stopped because the job was cancelled; it leaves nothing behind."""

    code = "job_cancelled"


class ModelTraining(Conflict):
    """The model is not trained yet and job ``job_id`` is training it: poll the job, retry.

    The body carries ``error.job_id``; the response adds ``Location: /v1/jobs/{job_id}``.
    """

    code = "model_not_trained"

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, param=param, retry_after=retry_after, code=code)
        self.job_id = job_id

    @property
    def location(self) -> str | None:
        """The job's URL, for the ``Location`` header."""
        return f"/v1/jobs/{self.job_id}" if self.job_id else None

    def to_body(self) -> dict[str, Any]:
        """The OpenAI-style body plus ``job_id``."""
        body = super().to_body()
        body["error"]["job_id"] = self.job_id
        return body


class PayloadTooLarge(TympanError):
    """The input is over a configured limit."""

    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class UploadTooLarge(PayloadTooLarge):
    """More bytes than ``max_upload_bytes``."""

    code = "upload_too_large"


class AudioTooLong(PayloadTooLarge):
    """More seconds than ``max_audio_seconds``; raised while decoding, before the excess exists."""

    code = "audio_too_long"


class BudgetExceeded(PayloadTooLarge):
    """The request would cost more (values, windows, files x seconds, ...) than its budget."""

    code = "budget_exceeded"


class RateLimited(TympanError):
    """Too many requests from this client."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limited"


class Overloaded(TympanError):
    """The inference queue is full; retry after ``retry_after`` seconds."""

    status = 503
    type = "server_error"
    code = "overloaded"


class DeadlineExceeded(Overloaded):
    """The request ran past ``request_timeout_seconds`` (or its client left); work stopped."""

    code = "deadline_exceeded"


class ArtifactStoreUnavailable(Overloaded):
    """The object store of TYMPAN_ARTIFACT_URL cannot be reached or has no bucket: at start
    (the server does not start) or while serving (this request fails; retry later)."""

    code = "artifact_store_unavailable"


class ReplicasUnavailable(Overloaded):
    """A model's replicas cannot answer: none was running for
    TYMPAN_RAY_DEPLOY_TIMEOUT_SECONDS, at first use or after all were lost (the cluster lacks
    the CPUs they reserve, or the model loads slowly; the message says which settings to change
    and what the cluster has), or every try of a call lost its replica (processes or nodes
    dying)."""

    code = "replicas_unavailable"


def _leaves(cls: type[TympanError]) -> list[type[TympanError]]:
    return [cls, *(leaf for sub in cls.__subclasses__() for leaf in _leaves(sub))]


def error_for_status(status: int, body: dict[str, Any] | None) -> TympanError:
    """Rebuild the most specific error from an HTTP status and error body (used by the SDK)."""
    error = (body or {}).get("error") or {}
    message = error.get("message") or f"HTTP {status}"
    code = error.get("code")
    candidates = [cls for cls in _leaves(TympanError) if cls.status == status]
    chosen = next((cls for cls in candidates if cls.code == code), None)
    chosen = chosen or (candidates[0] if candidates else TympanError)
    rebuilt = chosen(message, param=error.get("param"), code=code)
    if isinstance(rebuilt, ModelTraining):
        rebuilt.job_id = error.get("job_id")
    return rebuilt
