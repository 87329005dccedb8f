"""seqmaxent report: one self-contained HTML report of results files."""

from __future__ import annotations

import click

from .options import inputs_bar


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option("--max-inputs", default=20, show_default=True, help="Logos for at most this many inputs.")
@click.option("--no-match", is_flag=True, help="Skip matching motifs against JASPAR.")
@click.option("--sort", type=click.Choice(["input", "prediction", "importance"]), default="input", show_default=True,
              help="Order of the inputs: as in the input file, by the network's prediction, or by largest importance.")
@click.option("--variants", type=click.Path(exists=True, dir_okay=False),
              help="Variants (TSV or VCF, as 'seqmaxent variants' reads them) scored against the first file's samples, "
                   "marked on the logos and listed per input.")
def report(results: tuple[str, ...], output: str, max_inputs: int, no_match: bool, sort: str,
           variants: str | None) -> None:
    """One self-contained HTML report of RESULTS (several files: a beta sweep, shown side by side):
    the answer first (verdicts, consensus motifs beside their JASPAR matches), then each input."""
    from ..explain.report import build
    from ..io.store import header

    _, names = header(results[0])
    scored = None
    if variants:
        from ..explain.variants import read_variants, score_variants

        scored = score_variants(results[0], read_variants(variants, names))
    if not no_match:
        click.echo("matching motifs against JASPAR (the first match on a new install compiles memelite: ~1 min "
                   "once)...", err=True)
    with inputs_bar(min(len(names), max_inputs), "report") as bar:
        path = build(list(results), output, max_inputs=max_inputs, match=not no_match, sort=sort, progress=bar.update,
                     variants=scored)
    click.echo(f"wrote {path}", err=True)
