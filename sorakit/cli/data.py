"""`sorakit data ...`: make synthetic world clips and check manifests."""

from __future__ import annotations

import typer

data_app = typer.Typer(
    help="Datasets: render built-in world clips, check manifests of real videos.",
    no_args_is_help=True,
)
