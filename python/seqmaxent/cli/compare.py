"""seqmaxent compare: two models on the same inputs, each evaluated on the other's samples."""

from __future__ import annotations

import click

from .options import open_model, parse_positions, parse_units, steps_bar


@click.command()
@click.argument("model_a")
@click.argument("model_b")
@click.argument("input", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The comparison (HDF5, e.g. compare.h5), beside it OUTPUT.tsv, OUTPUT.html and each model's "
                   "samples, OUTPUT.a.h5 and OUTPUT.b.h5.")
@click.option("--beta", required=True, type=float, help="Inverse temperature, the same for both models.")
@click.option("--units", help="Output unit K, or K1,K2 for the log-odds W[K1]-W[K2].  [default: 1,0 or 0]")
@click.option("--positions", help="Output positions to explain, for a head applied at every position (1-based).")
@click.option("--region", help="Input positions the chains may change (1-based, inclusive).  [default: all]")
@click.option("--gc-fraction", type=float, help="Set mu = ln(f/(1-f)) for a genome with this GC fraction.")
@click.option("--tolerance", type=float, help="For a regression output: the change that still keeps x0's value.")
@click.option("--chains", default=8, show_default=True, help="Chains (ladders) per input.")
@click.option("--steps", type=int, help="Steps per chain in the first round, after burn-in.  [default: 4,400 per "
                                    "101 positions proposed (the region's), at least 4,400]")
@click.option("--max-rounds", default=4, show_default=True, help="Rounds at most (see sample).")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option("--threads", type=int, help="CPU threads.  [default: all cores]")
@click.option("--batch-size", default=64, show_default=True, help="Inputs sampled (and written) together.")
@click.option("--resume", is_flag=True, help="Skip inputs already in OUTPUT.a.h5 and OUTPUT.b.h5 (same settings).")
@click.option("--force", is_flag=True, help="Overwrite the results files if they exist.")
def compare(model_a: str, model_b: str, input: str, output: str, beta: float, units, positions, region, gc_fraction,
            tolerance, chains: int, steps: int | None, max_rounds: int, seed: int, threads: int | None, batch_size: int,
            resume: bool, force: bool) -> None:
    """What model B makes of model A's equivalence class, and the other way round: each input of
    INPUT is sampled under both models (into OUTPUT.a.h5 and OUTPUT.b.h5, results files for
    report, variants and logos), and each model is evaluated on the other's samples. Per input:
    both verdicts, the fraction of one model's samples the other still calls x0's class, the
    other's median output on them, and the positions whose importance differs most, B minus A in
    bits: OUTPUT (HDF5), OUTPUT.tsv, and OUTPUT.html with both importance logos stacked."""
    import numpy as np

    from ..io.inputs import count_records, first_length
    from ..io.store import exists
    import h5py

    from ..sampling.compare import compare_file, models_of, sample_paths
    from ..sampling.settings import gc_mu, steps_at_cap
    from .options import inputs_bar

    if resume and force:
        raise click.UsageError("give --resume or --force, not both")
    for path in sample_paths(output) if not (resume or force) else ():
        if exists(path):
            raise click.UsageError(f"{path} exists; use --resume to continue it, --force to overwrite it, or remove it")
    a, b = models_of(*(open_model(m, None, "ACGT", None, None, None) for m in (model_a, model_b)))  # before any bar
    inputs = count_records(input)
    if not inputs:
        raise click.UsageError(f"{input} holds no sequences")
    options = dict(beta=beta, units=parse_units(units), positions=parse_positions(positions), region=region,
                   tolerance=tolerance, mu=0.0 if gc_fraction is None else gc_mu(gc_fraction), chains=chains,
                   steps=steps, max_rounds=max_rounds, seed=seed, threads=threads)
    length = a.length or b.length or first_length(input, a.alphabet)
    with steps_bar(2 * inputs * steps_at_cap([beta], options, length)) as bar, inputs_bar(inputs, "compared") as done:
        written = compare_file(a, b, input, output, batch_size=batch_size, resume=resume, overwrite=force,
                               progress=bar.update, on_compared=done.update, **options)
    with h5py.File(written[0]) as h5:
        kept = h5["kept"][:]
    click.echo(f"compared {inputs} input(s): B keeps a median {np.median(kept[:, 0]):.0%} of A's samples in x0's class, "
               f"A {np.median(kept[:, 1]):.0%} of B's; wrote {', '.join(map(str, written))}", err=True)
