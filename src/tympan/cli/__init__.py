"""The ``tympan`` command line: one module per capability, each exposing ``register(app)``.

Commands run in-process by default; ``--server URL`` (or ``TYMPAN_SERVER``) sends them to a
running service instead. Both paths go through the same SDK calls.
"""

from __future__ import annotations

import typer

from tympan._discovery import iter_submodules

__all__ = ["app", "main"]

app = typer.Typer(
    name="tympan",
    help="Self-hosted audio AI: transcription, VAD, speakers, TTS, features, classifiers.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

for _module in iter_submodules("tympan.cli"):
    _module.register(app)


def main() -> None:
    """Entry point of the ``tympan`` script."""
    app()
