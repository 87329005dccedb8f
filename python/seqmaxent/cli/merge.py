"""seqmaxent merge: the shards of one run into one results file."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Results file to write.")
def merge(shards: tuple[str, ...], output: str) -> None:
    """Join the SHARDS of one run (seqmaxent sample --shard I/N) into one results file, in input order."""
    from ..io.merge import merge as join

    if Path(output).exists():
        raise click.UsageError(f"{output} exists; remove it first")
    click.echo(f"merged {join(list(shards), output)} input(s) from {len(shards)} shard(s) into {output}", err=True)
