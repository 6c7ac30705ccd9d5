"""``tympan serve``: run the HTTP service; ``tympan models``: list servable models."""

from __future__ import annotations

import os
from typing import Annotated
from urllib.parse import urlparse

import typer
from rich.table import Table

from tympan.cli._common import ApiKeyOption, ServerOption, connect, console, err_console
from tympan.config import Settings, unknown_variables

__all__ = ["register"]


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
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            flag_value="local",
            help="Run ASR models as Ray Serve replicas: --ray alone starts Ray on this machine, "
            "--ray HOST:PORT joins a cluster (default TYMPAN_RAY_ADDRESS; see docs/scaling.md).",
        ),
    ] = None,
) -> None:
    """Start the HTTP service (OpenAI-compatible audio API under /v1, Realtime WebSocket)."""
    import uvicorn

    from tympan.api.app import create_app
    from tympan.api.security import is_loopback_host

    for warning in unknown_variables(os.environ):
        err_console.print(f"[yellow]warning:[/yellow] {warning}")
    defaults = Settings()
    settings = defaults.model_copy(
        update={
            "host": host or defaults.host,
            "port": port or defaults.port,
            "insecure": insecure or defaults.insecure,
            "wyoming_uri": wyoming or defaults.wyoming_uri,
            "ray_address": ray or defaults.ray_address,
        }
    )
    if settings.ray_address.strip():
        from tympan.serving.ray import RayUnavailable, check_address

        try:
            check_address(settings.ray_address.strip())
        except RayUnavailable as exc:
            err_console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    if settings.shared_artifact_url:
        from tympan.errors import ArtifactStoreUnavailable
        from tympan.store.artifacts import ArtifactStore

        shared = ArtifactStore.from_settings(settings).shared
        try:
            shared.check()  # type: ignore[union-attr]
        except ArtifactStoreUnavailable as exc:
            err_console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    wyoming_host = urlparse(settings.wyoming_uri or "").hostname
    if wyoming_host and not is_loopback_host(wyoming_host) and not settings.insecure:
        err_console.print(
            f"[red]Refusing to serve Wyoming on {wyoming_host}:[/red] the Wyoming protocol has "
            "no authentication. Bind it to 127.0.0.1, or pass --insecure on a trusted network."
        )
        raise typer.Exit(2)
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
