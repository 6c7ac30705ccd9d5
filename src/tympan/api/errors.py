"""The one place errors become HTTP responses (OpenAI's error body, the right status)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tympan.errors import (
    AuthenticationFailed,
    BadRequest,
    InvalidParameter,
    ModelTraining,
    NotFound,
    PayloadTooLarge,
    TympanError,
)

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("tympan.api")

_BY_STATUS: dict[int, type[TympanError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    404: NotFound,
    405: BadRequest,
    413: PayloadTooLarge,
}


def error_response(error: TympanError) -> JSONResponse:
    """The JSON response for ``error`` (with Retry-After and Location when it has them)."""
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if isinstance(error, ModelTraining) and error.location:
        headers["Location"] = error.location
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error.to_body(), status_code=error.status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(location) or None
    message = first.get("msg", "Invalid request.")
    return (f"{param}: {message}" if param else message), param


def install_error_handlers(app: FastAPI) -> None:
    """Map Tympan errors, validation errors, HTTP errors and bugs to OpenAI-style bodies."""

    @app.exception_handler(TympanError)
    async def _tympan(_: Request, exc: TympanError) -> JSONResponse:
        if exc.status >= 500 and type(exc) is TympanError:
            log.error("internal error: %s", exc.message)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(InvalidParameter(message, param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _BY_STATUS.get(exc.status_code, TympanError)
        error = cls(str(exc.detail))
        response = error_response(error)
        response.status_code = exc.status_code
        return response

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(TympanError(f"Internal error: {type(exc).__name__}."))
