"""seqmaxent logos: probability and information logos of each input's samples."""

from __future__ import annotations

from pathlib import Path

import click

from ..formatting import file_stems, short
from .options import inputs_bar


@click.command()
@click.argument("result", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="Folder for the logo files.")
@click.option("--max-inputs", default=50, show_default=True, help="Logos for at most this many inputs.")
def logos(result: str, outdir: str, max_inputs: int) -> None:
    """Probability and information logos of each input's samples (fixed 0-2 bit axis), with
    importance (bits) and x0, positions numbered from 1 and motifs shaded (PNG, SVG)."""
    from ..explain import logos as logo_figures
    from ..explain import motifs as m
    from ..io.sequences import constrained_mask
    from ..io.store import load
    from ..explain.summary import background

    params, names, h5 = load(result)
    Path(outdir).mkdir(parents=True, exist_ok=True)
    bg = background(params["mu"], constrained_mask(params["constrained"], params["alphabet"]))
    shown = [short(n) for n in names[:max_inputs]]
    with h5, inputs_bar(len(shown), "logos") as bar:
        for i, (name, stem) in enumerate(zip(shown, file_stems(names[:max_inputs]))):
            found = m.extract(name, h5["marginals"][i], h5["importance"][i], params["alphabet"])
            window, where = logo_figures.framing(params, h5["importance"][i])
            span = f"; {where}" if where else ""
            fig = logo_figures.figure(h5["marginals"][i], h5["importance"][i], h5["x0"][i], params["alphabet"], bg,
                                      title=f"{name}  (beta {params['beta']:g}; {params.get('verdict', 'prediction')} "
                                            f"{h5['prediction'][i]:.3g}{span})",
                                      motifs=[(x.start, x.start + len(x.pwm), x.span) for x in found], window=window)
            logo_figures.save(fig, Path(outdir) / stem)
            bar.update()
    click.echo(f"wrote logos of {len(shown)} input(s) to {outdir}", err=True)
