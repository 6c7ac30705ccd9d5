"""``tympan serve``: run the HTTP service; ``tympan models``: list servable models."""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated
from urllib.parse import urlparse

import typer
from rich.table import Table

from tympan.cli._common import ApiKeyOption, ServerOption, connect, console, err_console
from tympan.config import Settings

__all__ = ["register"]


def _is_loopback(host: str) -> bool:
    try:
        return all(
            ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None)
        )
    except (OSError, ValueError):
        return False


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default TYMPAN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TYMPAN_PORT).")] = None,
    insecure: Annotated[
        bool, typer.Option(help="Allow a non-loopback address without API keys.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    wyoming: Annotated[
        str | None,
        typer.Option(
            help="Also serve the Wyoming protocol (Home Assistant) here, e.g. "
            "tcp://0.0.0.0:10300 (default TYMPAN_WYOMING_URI)."
        ),
    ] = None,
) -> None:
    """Start the HTTP service (OpenAI-compatible audio API under /v1, Realtime WebSocket)."""
    import uvicorn

    from tympan.api.app import create_app

    settings = Settings(**({"wyoming_uri": wyoming} if wyoming else {}))
    host = host or settings.host
    port = port or settings.port
    if not settings.api_keys and not _is_loopback(host) and not insecure:
        err_console.print(
            f"[red]Refusing to serve on {host} without API keys.[/red] Set TYMPAN_API_KEYS, "
            "bind to 127.0.0.1, or pass --insecure."
        )
        raise typer.Exit(2)
    wyoming_host = urlparse(settings.wyoming_uri or "").hostname
    if wyoming_host and not _is_loopback(wyoming_host) and not insecure:
        err_console.print(
            f"[red]Refusing to serve Wyoming on {wyoming_host}:[/red] the Wyoming protocol has "
            "no authentication. Bind it to 127.0.0.1, or pass --insecure on a trusted network."
        )
        raise typer.Exit(2)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


def models(server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """List every model the service can serve."""
    with connect(server, api_key) as client:
        cards = client.models()
    table = Table("id", "task", "backend", "loaded", "source")
    for card in cards:
        table.add_row(
            card["id"], card["task"], card["backend"], str(card["loaded"]), card["source"]
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(models)
