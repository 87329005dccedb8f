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
    import io

    from ..io.store import load
    from ..explain.variants import read_variants, score_variants, write_tsv

    params, names, h5 = load(results)
    h5.close()
    rows = score_variants(results, read_variants(variants, names))
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
