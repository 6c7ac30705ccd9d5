"""``tympan config``: the configuration reference, generated from ``Settings``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tympan.cli._common import console
from tympan.config import Settings, settings_reference, settings_reference_markdown

__all__ = ["register"]


def config(
    markdown: Annotated[bool, typer.Option(help="Print the README's markdown table.")] = False,
    current: Annotated[bool, typer.Option(help="Show the values in force here.")] = False,
) -> None:
    """Every TYMPAN_* setting with its default and meaning."""
    if markdown:
        typer.echo(settings_reference_markdown())
        return
    values = Settings().model_dump() if current else {}
    table = Table("variable", "current" if current else "default", "meaning")
    for variable, default, text in settings_reference():
        shown = values.get(variable.removeprefix("TYMPAN_").lower(), default)
        table.add_row(variable, str(shown), text)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(config)
