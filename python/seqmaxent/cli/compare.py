"""seqmaxent compare: two models on the same inputs, each evaluated on the other's samples."""

from __future__ import annotations

from pathlib import Path

import click

from .options import open_model, parse_positions, parse_units, steps_bar


@click.command()
@click.argument("model_a")
@click.argument("model_b")
@click.argument("input", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="Folder for compare.tsv, compare.html, a.h5 and b.h5.")
@click.option("--beta", required=True, type=float, help="Inverse temperature, the same for both models.")
@click.option("--units", help="Output unit K, or K1,K2 for the log-odds W[K1]-W[K2].  [default: 1,0 or 0]")
@click.option("--positions", help="Output positions to explain, for a head applied at every position (1-based).")
@click.option("--region", help="Input positions the chains may change (1-based, inclusive).  [default: all]")
@click.option("--gc-fraction", type=float, help="Set mu = ln(f/(1-f)) for a genome with this GC fraction.")
@click.option("--tolerance", type=float, help="For a regression output: the change that still keeps x0's value.")
@click.option("--chains", default=8, show_default=True, help="Chains (ladders) per input.")
@click.option("--steps", default=4400, show_default=True, help="Steps per chain in the first round, after burn-in.")
@click.option("--max-rounds", default=4, show_default=True, help="Rounds at most (see sample).")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option("--threads", type=int, help="CPU threads.  [default: all cores]")
def compare(model_a: str, model_b: str, input: str, outdir: str, beta: float, units, positions, region, gc_fraction,
            tolerance, chains: int, steps: int, max_rounds: int, seed: int, threads: int | None) -> None:
    """What model B makes of model A's equivalence class, and the other way round: each input of
    INPUT is sampled under both models, and each model is evaluated on the other's samples. Writes
    OUTDIR/compare.tsv (per input: both verdicts, the fraction of one model's samples the other
    still calls x0's class, the other's median output on them, the positions whose importance
    differs most, B minus A in bits), OUTDIR/compare.html (both importance logos stacked), and each
    model's samples as a results file, OUTDIR/a.h5 and OUTDIR/b.h5."""
    import numpy as np

    from ..sampling.compare import compare as run_compare
    from ..sampling.compare import page, table
    from ..io.inputs import count_records, read_inputs
    from ..sampling.settings import gc_mu, steps_at_cap

    a = open_model(model_a, None, "ACGT", None, None, None)
    b = open_model(model_b, None, "ACGT", None, None, None)
    names, seqs = zip(*read_inputs(input, a.alphabet)) if count_records(input) else ((), ())
    if not names:
        raise click.UsageError(f"{input} holds no sequences")
    options = dict(beta=beta, units=parse_units(units), positions=parse_positions(positions), region=region,
                   tolerance=tolerance, mu=0.0 if gc_fraction is None else gc_mu(gc_fraction), chains=chains,
                   steps=steps, max_rounds=max_rounds, seed=seed, threads=threads)
    with steps_bar(2 * len(names) * steps_at_cap([beta], options)) as bar:
        c = run_compare(a, b, list(seqs), names=list(names), progress=bar.update, **options)
    Path(outdir).mkdir(parents=True, exist_ok=True)
    out = Path(outdir)
    (out / "compare.tsv").write_text(table(c))
    html_path = page(c, out / "compare.html", (Path(model_a).name, Path(model_b).name))
    for res, stem in zip(c.results, ("a", "b")):
        res.save(out / f"{stem}.h5")
    click.echo(f"compared {len(names)} input(s): B keeps a median {np.median(c.kept[0]):.0%} of A's samples in x0's "
               f"class, A {np.median(c.kept[1]):.0%} of B's; wrote {out / 'compare.tsv'}, {html_path} and each "
               f"model's samples ({out / 'a.h5'}, {out / 'b.h5'}: results files for report, variants, logos)",
               err=True)
