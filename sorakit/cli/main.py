"""Entry point of the `sorakit` command: one typer app with a sub-app per area."""

from __future__ import annotations

import logging

import typer

from sorakit.cli.data import data_app
from sorakit.cli.eval import eval_app
from sorakit.cli.generate import generate, interpolate, upscale
from sorakit.cli.plan import plan
from sorakit.cli.train import build_model, preprocess, train
from sorakit.cli.vae import eval_vae, reconstruct, train_vae

app = typer.Typer(
    name="sorakit",
    help="sorakit: text-to-video with a causal video VAE, spacetime patches and a diffusion "
    "transformer, plus a built-in physics world for training and exact evaluation.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")
app.command("generate")(generate)
app.command("plan")(plan)
app.command("upscale")(upscale)
app.command("interpolate")(interpolate)
app.command("train-vae")(train_vae)
app.command("reconstruct")(reconstruct)
app.command("preprocess")(preprocess)
app.command("train")(train)
app.command("build-model")(build_model)
eval_app.command("vae")(eval_vae)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
