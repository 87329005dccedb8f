"""seqmaxent motifs: motifs of each input, their consensus and JASPAR matches."""

from __future__ import annotations

from pathlib import Path

import click

from ..formatting import short
from .options import inputs_bar


@click.command()
@click.argument("result", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="Folder for the motif files.")
@click.option("--threshold", default=0.5, show_default=True, help="Importance (bits) a motif position needs.")
@click.option("--min-length", default=5, show_default=True, help="Shortest motif (positions).")
@click.option("--top", default=5, show_default=True, help="JASPAR matches listed per motif.")
@click.option("--no-match", is_flag=True, help="Skip matching against JASPAR.")
def motifs(result: str, outdir: str, threshold: float, min_length: int, top: int, no_match: bool) -> None:
    """Motifs (high-importance segments) of each input and their consensus across inputs, as MEME
    and JASPAR files, with Tomtom matches against JASPAR CORE vertebrates (matches.tsv). Inputs with
    most positions fixed give no motifs (beta too high)."""
    from ..explain import motifs as m
    from ..io.store import load

    params, names, h5 = load(result)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    found, frozen = [], []
    with h5, inputs_bar(len(names), "motifs") as bar:
        for i, name in enumerate(map(short, names)):
            if m.frozen(h5["importance"][i], threshold):
                frozen.append(name)
            found += m.extract(name, h5["marginals"][i], h5["importance"][i], params["alphabet"], threshold=threshold,
                               min_length=min_length)
            bar.update()
    if frozen:
        click.echo(f"no motifs from {len(frozen)} input(s) with most positions fixed ({', '.join(frozen[:3])}"
                   f"{', ...' if len(frozen) > 3 else ''}): beta {params['beta']:g} keeps whole sequences; lower it",
                   err=True)
    if not no_match and found:
        m.warm_up()
    consensus = m.aggregate(found)
    for stem, group in (("motifs", found), ("consensus", consensus)):
        m.write_meme(group, out / f"{stem}.meme")
        m.write_jaspar(group, out / f"{stem}.jaspar")
    click.echo(f"{len(found)} motif(s) in {len(names)} input(s), {len(consensus)} consensus motif(s)", err=True)
    if no_match or not found:
        return
    click.echo("matching against JASPAR (the first match on a new install compiles memelite: ~1 min once)...",
               err=True)
    targets = m.jaspar()
    release = targets[3]
    rows = ["query\tconsensus\tsites\ttarget\ttarget_name\tp_value\tq_value\toffset\tstrand"]
    for motif, matches in zip(consensus + found, m.match(consensus + found, targets, top=top)):
        rows += [f"{x.query}\t{motif.consensus}\t{motif.sites}\t{x.target_id}\t{x.target_name}\t{x.p_value:.3g}\t"
                 f"{x.q_value:.3g}\t{x.offset}\t{x.strand}" for x in matches]
    (out / "matches.tsv").write_text("\n".join(rows) + "\n")
    for motif, matches in zip(consensus, m.match(consensus, targets, top=1)):
        best = matches[0]
        click.echo(f"{motif.name} ({motif.sites} sites, {motif.consensus}): best {release} match {best.target_id} "
                   f"{best.target_name}, p = {best.p_value:.2g}, q = {best.q_value:.2g}")
