"""seqmaxent inspect: what the sampler reads of a model."""

from __future__ import annotations

import click

from .options import open_model, parse_positions, with_model_options


@click.command()
@click.argument("model")
@click.option("--positions", help="For a head applied at every position: the output positions (1-based) to explain, "
                                  "which decide the evaluation path shown.")
@with_model_options
def inspect(model: str, positions, layout: str | None, alphabet: str, phi: str | None, head: str | None,
            class_names) -> None:
    """Show MODEL's (a file, or a bundled model: ctcf) input layout, length, outputs and their
    heads, Phi, and how each layer is evaluated."""
    click.echo(open_model(model, layout, alphabet, phi, head, class_names).info(parse_positions(positions)))
