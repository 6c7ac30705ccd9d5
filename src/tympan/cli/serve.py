"""``tympan serve``: run the HTTP service; ``tympan models``: list servable models."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tympan.cli._common import ApiKeyOption, ServerOption, connect, console, err_console
from tympan.config import Settings

__all__ = ["register"]


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default TYMPAN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TYMPAN_PORT).")] = None,
    insecure: Annotated[
        bool, typer.Option(help="Allow a non-loopback address without API keys.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Start the HTTP service (OpenAI-compatible audio API under /v1)."""
    import uvicorn

    from tympan.api.app import create_app

    defaults = Settings()
    settings = defaults.model_copy(
        update={
            "host": host or defaults.host,
            "port": port or defaults.port,
            "insecure": insecure or defaults.insecure,
        }
    )
    try:
        app = create_app(settings)  # refuses a network address without keys
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)


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
