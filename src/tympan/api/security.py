"""Who may call the service, and from where, decided from the request's headers alone.

- **Network**: a connection to a non-loopback address is refused when no API keys are set,
  unless ``TYMPAN_INSECURE`` says otherwise (``create_app`` also refuses to start so).
- **Host**: a connection to a loopback address must name a loopback host (or one of
  ``TYMPAN_ALLOWED_HOSTS``), so a DNS-rebinding page cannot reach the service.
- **Origin**: a browser request whose ``Origin`` is neither the service itself nor one of
  ``TYMPAN_CORS_ORIGINS`` is refused before any work, preflight or not.
- **Keys**: ``TYMPAN_API_KEYS`` entries read ``key[:scope][@namespace]``; a key's scope decides
  what it may call and its namespace which speakers and classifiers it sees.

``check_connection`` runs every check for one HTTP request or WebSocket handshake and returns
the ``Caller``; ``RequestGuard`` is the ASGI middleware that runs it before any body is read.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketClose

from tympan.api.errors import error_response
from tympan.config import DEFAULT_NAMESPACE, Settings
from tympan.errors import AuthenticationFailed, PermissionDenied, TympanError

__all__ = [
    "DEFAULT_NAMESPACE",
    "AccessPolicy",
    "ApiKey",
    "Caller",
    "KeyScope",
    "RequestGuard",
    "caller_of",
    "check_connection",
    "is_loopback_host",
    "parse_api_key",
]

KeyScope = Literal["admin", "read", "transcribe"]
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_CALLER_KEY = "tympan.caller"
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_WEBSOCKET_KEY_PROTOCOL = "openai-insecure-api-key."  # how browsers pass a key to a WebSocket

# Inference endpoints: they compute from the request and store nothing ("transcribe" keys).
_INFERENCE_PATHS = re.compile(
    r"^/v1/(audio/(transcriptions|translations|speech|features|vad|diarization|enhancements"
    r"|language)"
    r"|speakers/(embed|verify|identify)"
    r"|classifiers/[^/]+/(predict|detect)"
    r"|music/generations"
    r"|realtime)$"
)
# What a "transcribe" key may read besides: the catalogues an inference client asks for.
_CATALOGUE_PATHS = re.compile(r"^/v1/(models(/.*)?|audio/voices)$")
_PUBLIC_PATHS = frozenset({"/healthz"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request comes from: the scope of its key and the namespace of its data."""

    scope: KeyScope = "admin"
    namespace: str = DEFAULT_NAMESPACE


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One configured key and the caller it makes a request."""

    secret: str = field(repr=False)
    caller: Caller


def parse_api_key(entry: str) -> ApiKey:
    """An API key from ``key[:scope][@namespace]`` (a plain ``key`` is admin, ``default``)."""
    rest, _, namespace = entry.partition("@")
    secret, _, scope = rest.partition(":")
    scope = scope or "admin"
    namespace = namespace or DEFAULT_NAMESPACE
    if not secret:
        raise ValueError("TYMPAN_API_KEYS has an entry with an empty key")
    if scope not in get_args(KeyScope):
        raise ValueError(
            f"TYMPAN_API_KEYS: scope {scope!r} is not one of {', '.join(get_args(KeyScope))}"
        )
    if not _NAMESPACE.match(namespace):
        raise ValueError(
            f"TYMPAN_API_KEYS: namespace {namespace!r} must be 1-64 letters, digits, '.', '_' "
            "or '-'"
        )
    return ApiKey(secret, Caller(scope, namespace))  # type: ignore[arg-type]


def is_loopback_host(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback one."""
    try:
        infos = socket.getaddrinfo(host, None)
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)
    except (OSError, ValueError):
        return False


def _ip(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(value).split("%")[0])
    except ValueError:
        return None  # a unix socket, or an in-process test transport


def _host_name(host_header: str) -> str:
    """The host of a ``Host`` header without its port (``[::1]:8000`` -> ``::1``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The settings every connection is checked against."""

    keys: tuple[ApiKey, ...] = ()
    cors_origins: frozenset[str] = frozenset()
    allowed_hosts: frozenset[str] = frozenset()
    insecure: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        """The policy of ``settings``; ``ValueError`` for a malformed ``TYMPAN_API_KEYS``."""
        return cls(
            keys=tuple(parse_api_key(entry) for entry in settings.api_keys),
            cors_origins=frozenset(origin.rstrip("/") for origin in settings.cors_origins),
            allowed_hosts=frozenset(_host_name(host) for host in settings.allowed_hosts),
            insecure=settings.insecure,
        )

    def check_network(self, scope: Scope) -> None:
        """Refuse a connection to a network address when no keys guard the service."""
        server = _ip((scope.get("server") or (None,))[0])
        if server is not None and not server.is_loopback and not self.keys and not self.insecure:
            raise PermissionDenied(
                "This service is reachable on a network address without API keys: set "
                "TYMPAN_API_KEYS (or TYMPAN_INSECURE=true to allow anyone).",
                code="insecure_bind",
            )

    def check_host(self, scope: Scope, headers: Headers) -> None:
        """On a loopback connection, refuse a ``Host`` that is not a loopback name (rebinding)."""
        server = _ip((scope.get("server") or (None,))[0])
        if server is None or not server.is_loopback or "*" in self.allowed_hosts:
            return
        host = _host_name(headers.get("host", ""))
        if host not in LOOPBACK_HOSTS and host not in self.allowed_hosts:
            raise PermissionDenied(
                "Host header not allowed on a loopback address; add the name to "
                "TYMPAN_ALLOWED_HOSTS if a proxy forwards it.",
                param="host",
                code="host_not_allowed",
            )

    def check_origin(self, headers: Headers) -> None:
        """Refuse a browser request from an origin other than the service's or an allowed one."""
        origin = headers.get("origin")
        if origin is None or "*" in self.cors_origins or origin.rstrip("/") in self.cors_origins:
            return
        if origin != "null" and urlsplit(origin).netloc.lower() == headers.get("host", "").lower():
            return  # same origin: the service's own pages
        raise PermissionDenied(
            f"Origin {origin!r} is not allowed; list it in TYMPAN_CORS_ORIGINS.",
            param="origin",
            code="origin_not_allowed",
        )

    def authenticate(self, headers: Headers) -> Caller:
        """The caller a request's bearer key (or WebSocket key subprotocol) makes it."""
        if not self.keys:
            return Caller()
        token = _presented_key(headers)
        for key in self.keys:
            if hmac.compare_digest(token.encode(), key.secret.encode()):
                return key.caller
        raise AuthenticationFailed("Missing or invalid API key (Authorization: Bearer ...).")


def _presented_key(headers: Headers) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    for protocol in headers.get("sec-websocket-protocol", "").split(","):
        if protocol.strip().startswith(_WEBSOCKET_KEY_PROTOCOL):
            return protocol.strip()[len(_WEBSOCKET_KEY_PROTOCOL) :]
    return ""


def _allowed(caller: Caller, method: str, path: str) -> bool:
    if caller.scope == "admin":
        return True
    if caller.scope == "read":
        return method in ("GET", "HEAD")
    if method in ("GET", "HEAD") and _CATALOGUE_PATHS.match(path):
        return True
    return _INFERENCE_PATHS.match(path) is not None


def _authorize(caller: Caller, method: str, path: str) -> None:
    if _allowed(caller, method, path):
        return
    allowed = {
        "read": "only reads (GET)",
        "transcribe": "only inference endpoints, /v1/models and /v1/audio/voices",
    }[caller.scope]
    raise PermissionDenied(
        f"This API key has scope {caller.scope!r}, which allows {allowed}; {method} {path} needs "
        "an 'admin' key (TYMPAN_API_KEYS).",
        code="scope_not_allowed",
    )


def _is_preflight(scope: Scope, headers: Headers) -> bool:
    return scope.get("method") == "OPTIONS" and "access-control-request-method" in headers


def check_connection(scope: Scope, policy: AccessPolicy) -> Caller:
    """Every check for one HTTP request or WebSocket handshake; the caller, or a TympanError.

    Only headers are read. For key scopes a WebSocket's method is ``WEBSOCKET``: a ``read``
    key may not open one, a ``transcribe`` key only on an inference path (``/v1/realtime``).
    """
    headers = Headers(scope=scope)
    policy.check_network(scope)
    policy.check_host(scope, headers)
    policy.check_origin(headers)
    path = scope.get("path", "")
    if path in _PUBLIC_PATHS or _is_preflight(scope, headers):
        return Caller()
    caller = policy.authenticate(headers)
    _authorize(caller, scope.get("method") or "WEBSOCKET", path)
    return caller


def caller_of(scope: Scope) -> Caller:
    """The caller ``RequestGuard`` found for this connection (admin, default, without keys)."""
    return scope.get(_CALLER_KEY) or Caller()


class RequestGuard:
    """ASGI middleware: ``check_connection`` on every request before its body is read.

    A refused HTTP request gets the error's OpenAI-style body; a refused WebSocket handshake
    gets it as the denial response where the server supports that, else a 1008 close.
    """

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            scope[_CALLER_KEY] = check_connection(scope, self.policy)
        except TympanError as error:
            if scope["type"] == "http":
                await error_response(error)(scope, receive, send)
                return
            websocket = WebSocket(scope, receive, send)
            if "websocket.http.response" in scope.get("extensions", {}):
                await websocket.send_denial_response(error_response(error))
            else:
                await WebSocketClose(code=1008, reason=error.message[:120])(scope, receive, send)
            return
        await self.app(scope, receive, send)
