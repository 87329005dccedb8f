"""seqmaxent variants: variants scored against the samples of their inputs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.argument("variants", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="TSV file to write.  [default: standard output]")
def variants(results: str, variants: str, output: str | None) -> None:
    """Score VARIANTS (TSV: input, 1-based position, ref, alt[, id]; or a VCF placed in inputs named
    chrom:start-end) against the samples of their inputs in RESULTS: d of each variant, the
    fraction of samples at least as far from x0 (tail probability, with a 95% interval from the
    effective draws), the change of the explained output, and the importance (bits) of its
    positions. One TSV row per variant; indels of unequal length are rows saying so."""
    from ..explain.variants import read_variants
    from ..io.store import load

    _, names, h5 = load(results)
    h5.close()
    write_scores(results, read_variants(variants, names), output)


def write_scores(results: str | Path, variants: list, output: str | Path | None) -> None:
    """Score `variants` against the samples in `results` into the TSV `output` (or standard
    output), saying what the columns mean."""
    import io

    from ..explain.variants import score_variants, write_tsv
    from ..io.store import load

    params, _, h5 = load(results)
    h5.close()
    rows = score_variants(results, variants)
    text = io.StringIO()
    write_tsv(rows, text)
    click.echo(f"{results}: {len(rows)} variant(s) on {len({r['input'] for r in rows})} input(s); change = "
               f"{params.get('verdict', 'the output')} of alt minus ref; tail = P(d of a sample >= d of the variant)",
               err=True)
    if output:
        Path(output).write_text(text.getvalue())
        click.echo(f"wrote {len(rows)} row(s) to {output}", err=True)
    else:
        click.echo(text.getvalue(), nl=False)


def read_checked(variants: str, input: str, alphabet: str, genome: str | None, on_n: str) -> list:
    """The variants of a file, each placed in its input and checked against its bases, before any
    sampling."""
    from ..explain.variants import place, read_variants
    from ..io.inputs import read_inputs

    sequences = dict(read_inputs(input, alphabet, genome, on_n))
    found = read_variants(variants, list(sequences))
    for v in found:
        place(v, sequences[v.input])
    return found
