"""seqmaxent sample: a file of inputs into a results file."""

from __future__ import annotations

from pathlib import Path

import click

from ..interrupts import describe, exit_code, ignore_further
from .options import (open_model, parse_betas, parse_positions, parse_shard, parse_units, spooled_stdin, steps_bar,
                      with_model_options)
from .variants import on_mismatch_option, read_checked, write_scores


@click.command()
@click.argument("model")
@click.argument("input", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Results file (HDF5) to write.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--input-alphabet", help="Channel order of a one-hot .npy INPUT (e.g. GCAT).  [default: the model's]")
@click.option("--genome", type=click.Path(dir_okay=False), help="Genome FASTA for BED input (plain or bgzip).")
@click.option("--beta", required=True,
              help="Strength of the constraint on Phi (about 10 to 400): a number, a sweep such as 50,100,400 "
                   "(one replica-exchange run, one results file each: OUTPUT.betaB.h5), or 'auto' (pilot "
                   "search, see --target).")
@click.option("--target", default=0.95, show_default=True,
              help="With --beta auto: fraction of pilot samples that must keep x0's predicted class.")
@click.option("--tolerance", type=float, help="With --beta auto and a regression output: allowed change of the output.")
@click.option("--mu", type=float, help="Weight of the constrained-base count N_C.  [default: 0]")
@click.option("--gc-fraction", type=float, help="Set mu = ln(f/(1-f)) for a genome with this GC fraction.")
@click.option("--units", help="Output unit K, or K1,K2 for the log-odds W[K1]-W[K2].  [default: 1,0 or 0]")
@click.option("--positions", help="Output positions to explain, for a head applied at every position (1-based): "
                                  "P, P1-P2 or a comma-separated mix.  [default: the only one]")
@click.option("--region", help="Input positions the chains may change (1-based, inclusive): 4900-5100, or ranges "
                               "such as 4900-5000,5050-5100; the rest keeps each input's bases.  [default: all]")
@click.option("--constrained", default="GC", show_default=True, help="Bases counted by N_C.")
@click.option("--sampler", type=click.Choice(["tempering", "metropolis"]), default="tempering", show_default=True,
              help="Replica exchange over a ladder of betas, or the paper's independent single-beta chains.")
@click.option("--moves", type=click.Choice(["metropolis", "heat-bath"]), default="metropolis", show_default=True,
              help="Site updates: one random base change, or a site redrawn from its exact conditional.")
@click.option("--rungs", default=8, show_default=True, help="Betas per ladder (tempering), from beta/10 to beta.")
@click.option("--chains", default=8, show_default=True, help="Chains (ladders) per input.")
@click.option("--steps", type=int, help="Steps per chain in the first round, after burn-in.  [default: 4,400 per "
                                    "101 positions proposed (the region's), at least 4,400]")
@click.option("--max-rounds", default=4, show_default=True,
              help="Rounds at most: an input whose diagnostics fail goes on, each round as long as all before it.")
@click.option("--period", type=int, help="Keep a sample every PERIOD steps.  [default: about 200 per chain]")
@click.option("--burn-in", type=int, help="Steps before the first kept sample.  [default: steps/4]")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option("--threads", type=int, help="CPU threads.  [default: all cores]")
@click.option("--provider", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--on-n", type=click.Choice(["fail", "freeze"]), default="fail", show_default=True,
              help="Sequences with N: fail, or keep N positions fixed (all-zero one-hot rows).")
@click.option("--batch-size", default=64, show_default=True, help="Inputs sampled (and written) together.")
@click.option("--resume", is_flag=True, help="Skip inputs already in OUTPUT (same settings required).")
@click.option("--shard", help="I/N: sample only every N-th batch from batch I (0-based) into OUTPUT.shardIofN.h5, "
                             "for job arrays; join with 'seqmaxent merge'.  [default: from SLURM_ARRAY_TASK_ID and "
                             "SLURM_ARRAY_TASK_COUNT when set]")
@click.option("--scheduler", help="Address of a Dask scheduler: sample batches on its workers.")
@click.option("--workers", type=int, help="Sample on a local Dask cluster of this many worker processes.")
@click.option("--variants", type=click.Path(exists=True, dir_okay=False),
              help="Variants (TSV or VCF, as 'seqmaxent variants' reads them) to score against the samples when "
                   "the run ends, into OUTPUT's name with .variants.tsv (checked against the inputs first).")
@on_mismatch_option("With --variants. ")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@with_model_options
def sample(model: str, input: str, output: str, force, input_alphabet, genome, beta, target, tolerance, mu,
           gc_fraction, units, region, constrained, sampler, moves, rungs, chains, steps, max_rounds, period, burn_in, seed,
           threads, provider, on_n, batch_size, resume, shard, scheduler, workers, variants, on_mismatch, quiet, layout,
           alphabet, phi, head, class_names, positions) -> None:
    """Sample the MaxEnt distribution around each sequence of INPUT (FASTA, one-hot .npy, BED with
    --genome, or - for FASTA on standard input) through MODEL (an ONNX file, or a bundled model:
    ctcf) into OUTPUT."""
    from ..io.inputs import count_records, first_length
    from ..sampling.pipeline import output_paths, sample_file, shard_path
    from ..sampling.settings import Settings, gc_mu
    from ..io.store import exists

    if mu is not None and gc_fraction is not None:
        raise click.UsageError("give --mu or --gc-fraction, not both")
    if resume and force:
        raise click.UsageError("give --resume or --force, not both")
    mu = gc_mu(gc_fraction) if gc_fraction is not None else (mu or 0.0)
    betas = parse_betas(beta)
    part = parse_shard(shard)
    if part is not None and not quiet:
        click.echo(f"shard {part[0]} of {part[1]} (0-based)", err=True)
    for out in output_paths(output, betas if betas != ["auto"] else 0.0).values():
        out = out if part is None else shard_path(out, part)
        if not (resume or force) and exists(out):  # checked again, under the file's lock, before sampling
            raise click.UsageError(f"{out} exists; use --resume to continue it, --force to overwrite it, or remove it")
    if input == "-":
        input = click.get_current_context().with_resource(spooled_stdin())  # removed when the command ends
    inputs = count_records(input)
    if inputs == 0:
        raise click.UsageError(f"{input} holds no sequences")
    m = open_model(model, layout, alphabet, phi, head, class_names)
    if variants and part is not None:
        raise click.UsageError("--variants scores a whole run: merge the shards, then use 'seqmaxent variants'")
    checked = (read_checked(variants, input, input_alphabet or m.alphabet, genome, on_n, on_mismatch) if variants
               else None)
    options = dict(mu=mu, units=parse_units(units), positions=parse_positions(positions), region=region,
                   constrained=constrained,
                   sampler=sampler, moves=moves, rungs=rungs, threads=threads, provider=provider, seed=seed)
    if betas == ["auto"]:
        from itertools import islice

        from ..sampling.calibrate import calibrate_beta, pilot_size
        from ..io.inputs import read_inputs

        pilot = [s for _, s in islice(read_inputs(input, input_alphabet or m.alphabet, genome, on_n), 8)]
        calibration = calibrate_beta(m, pilot, target=target, tolerance=tolerance, on_n=on_n,
                                     **pilot_size(chains, steps), **options)
        click.echo(str(calibration), err=True)
        betas = [calibration.beta]
    length = m.length or first_length(input, input_alphabet or m.alphabet, genome, on_n)
    sized = Settings.of(dict(options, beta=betas, chains=chains, steps=steps, burn_in=burn_in, period=period,
                             max_rounds=max_rounds)).sized(length)
    steps, burn_in, period = sized.steps, sized.burn_in, sized.period
    total = inputs * sized.steps_at_cap()
    if scheduler is not None and workers is not None:
        raise click.UsageError("give --scheduler or --workers, not both")
    client = None
    if scheduler is not None or workers is not None:
        from ..sampling.cluster import connect

        client = connect(scheduler, workers)
    if part is not None:
        total = total // part[1]
    paths = [p if part is None else shard_path(p, part) for p in output_paths(output, betas[0] if len(betas) == 1 else
                                                                               betas).values()]
    bar = steps_bar(total, quiet, cluster=client is not None)
    try:
        n = sample_file(m, input, output, beta=betas if len(betas) > 1 else betas[0], chains=chains, steps=steps,
                        period=period, burn_in=burn_in, max_rounds=max_rounds, genome=genome, on_n=on_n,
                        input_alphabet=input_alphabet, batch_size=batch_size, resume=resume, overwrite=force,
                        shard=part, client=client, progress=bar.update, **options)
    except FileExistsError as e:
        raise click.UsageError(f"{e}: use --resume to continue it or --force to overwrite it") from None
    except KeyboardInterrupt as stop:
        ignore_further()
        bar.close()
        kept = min(stored_inputs(p) for p in paths)
        text = (f"kept {kept} finished input(s) in {', '.join(map(str, paths))} (continue with --resume)" if kept else
                f"none kept yet: the first batch of {min(batch_size, inputs)} input(s) was not finished (a smaller "
                f"--batch-size writes more often)")
        click.echo(f"{describe(stop)}; {text}", err=True)
        raise SystemExit(exit_code(stop)) from None
    finally:
        bar.close()
        if client is not None:
            client.close()
    if not quiet:
        for b, out in zip(betas, paths):
            click.echo(f"sampled {n} input(s) at beta {b:.4g} into {out}", err=True)
    for out in paths if checked is not None else []:
        write_scores(out, checked, out.with_name(f"{out.stem}.variants.tsv"), on_mismatch)


def stored_inputs(path: Path) -> int:
    """Inputs in a results file (0 if there is none yet)."""
    from ..io.store import header

    return len(header(path)[1]) if path.exists() else 0
