"""``tympan features FILE... --kind mfcc --out x.npy``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from tympan.cli._common import ApiKeyOption, ServerOption, connect, console, track

__all__ = ["register"]


def features(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Audio files.")],
    kind: Annotated[str, typer.Option(help="spectrogram | log_mel | mfcc | zcr | rms")] = "log_mel",
    out: Annotated[
        Path | None,
        typer.Option(help="Output .npy (one file) or folder (several files)."),
    ] = None,
    n_fft: Annotated[int, typer.Option()] = 400,
    hop_length: Annotated[int, typer.Option()] = 160,
    n_mels: Annotated[int, typer.Option()] = 64,
    n_mfcc: Annotated[int, typer.Option()] = 13,
    deltas: Annotated[int, typer.Option(min=0, max=2)] = 0,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Compute frame features (frames x dims) and save them as .npy."""
    with connect(server, api_key) as client:
        for path in track(files, "features", total=len(files)):
            result = client.features(
                path,
                kind,  # type: ignore[arg-type]
                n_fft=n_fft,
                hop_length=hop_length,
                n_mels=n_mels,
                n_mfcc=n_mfcc,
                deltas=deltas,
            )
            target = _target(path, out, many=len(files) > 1)
            np.save(target, result.values)
            console.print(f"{path} -> {target} {tuple(result.values.shape)}")


def _target(path: Path, out: Path | None, many: bool) -> Path:
    if out is None:
        return path.with_suffix(".npy")
    if many:
        out.mkdir(parents=True, exist_ok=True)
        return out / f"{path.stem}.npy"
    return out


def register(app: typer.Typer) -> None:
    app.command()(features)
