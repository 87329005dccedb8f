"""seqmaxent variants: variants scored against the samples of their inputs."""

from __future__ import annotations

from pathlib import Path

import click


def on_mismatch_option(when: str = ""):
    """The --on-mismatch option (`when`: what it needs, e.g. "With --variants: ")."""
    return click.option("--on-mismatch", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
                        help=f"{when}A REF that is not the input's bases, or a position outside the input: fail (an "
                             f"error naming the file and line), or skip (a row saying so).")


@click.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.argument("variants", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="TSV file to write.  [default: standard output]")
@on_mismatch_option()
def variants(results: str, variants: str, output: str | None, on_mismatch: str) -> None:
    """Score VARIANTS (TSV: input, 1-based position, ref, alt[, id]; or a VCF placed in inputs named
    chrom:start-end) against the samples of their inputs in RESULTS: d of each variant, the
    fraction of samples at least as far from x0 (tail probability, with a 95% interval from the
    effective draws), the change of the explained output, and the importance (bits) of its
    positions. One TSV row per variant; indels of unequal length are rows saying so."""
    from ..explain.variants import read_variants
    from ..io.store import header

    _, names = header(results)
    write_scores(results, read_variants(variants, names), output, on_mismatch)


def write_scores(results: str | Path, variants: list, output: str | Path | None, on_mismatch: str = "fail") -> None:
    """Score `variants` against the samples in `results` into the TSV `output` (or standard
    output), row by row; a file appears whole, when every row is written. Says what the columns mean."""
    import sys

    from ..explain.variants import iter_scores, write_tsv
    from ..io.store import header, replacing

    params, _ = header(results)
    skipped = 0

    def counted(rows):
        nonlocal skipped
        for row in rows:
            skipped += row["status"].startswith("skipped")
            yield row

    rows = counted(iter_scores(results, variants, on_mismatch=on_mismatch))
    if output:
        with replacing(Path(output)) as partial, open(partial, "w") as out:
            n = write_tsv(rows, out)
    else:
        n = write_tsv(rows, sys.stdout)
    click.echo(f"{results}: {n} variant(s) on {len({v.input for v in variants})} input(s)"
               + (f", {skipped} skipped (REF or position does not match the input)" if skipped else "")
               + f"; change = {params.get('verdict', 'the output')} of alt minus ref; tail = P(d of a sample >= d of "
               f"the variant)", err=True)
    if output:
        click.echo(f"wrote {n} row(s) to {output}", err=True)


def read_checked(variants: str, input: str, alphabet: str, genome: str | None, on_n: str,
                 on_mismatch: str = "fail") -> list:
    """The variants of a file, each placed in its input and checked against its bases, before any
    sampling (with `on_mismatch` "skip", a mismatch is left to be a flagged row)."""
    from ..explain.variants import place, read_variants
    from ..io.inputs import read_inputs

    sequences = dict(read_inputs(input, alphabet, genome, on_n))
    found = read_variants(variants, list(sequences))
    for v in found if on_mismatch == "fail" else ():
        place(v, sequences[v.input])
    return found
