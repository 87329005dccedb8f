"""The seqmaxent command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from . import __version__
from .formatting import file_stems, short
from .interrupts import describe, exit_code, ignore_further, stop_on_sigterm

# The numerical modules are imported by the commands that use them, so that the command line
# starts at once and handles Ctrl-C and SIGTERM from its first instant.

model_options = [
    click.option("--layout", type=click.Choice(["NLC", "NCL", "N1LC"]), help="Input layout; detected if unambiguous."),
    click.option("--alphabet", default="ACGT", show_default=True, help="Base order of the one-hot channels."),
    click.option("--phi", help="Name of the penultimate tensor (default: input of the final linear layer)."),
    click.option("--head", help="Name of the graph output to explain.  [default: the first output]"),
    click.option("--class-names", help="Names of the head's units, comma-separated (e.g. unbound,bound).  "
                                       "[default: the model's class_names metadata]"),
]


def open_model(model: str, layout, alphabet, phi, head, class_names):
    """MODEL (a file, or a bundled model's name) with the model options, as a :class:`seqmaxent.Model`."""
    from .model import Model

    names = None if class_names is None else [c.strip() for c in class_names.split(",")]
    return Model(model, layout=layout, alphabet=alphabet, phi=phi, head=head, class_names=names)


def with_model_options(f):
    for option in reversed(model_options):
        f = option(f)
    return f


def parse_units(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(u) for u in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected K or K1,K2 (output indices), not {text!r}") from None


def parse_positions(text: str | None) -> list[int] | None:
    """Output positions, 1-based: '501', '490-510' (inclusive) or a comma-separated mix."""
    if text is None:
        return None
    positions: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            positions += list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise click.BadParameter(f"expected 1-based output positions such as 501, 490-510 or 1,5,9; not {text!r}") from None
    return positions


def parse_betas(text: str) -> list:
    """'auto', or one or more comma-separated non-negative numbers."""
    if text.strip().lower() == "auto":
        return ["auto"]
    try:
        betas = [float(b) for b in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected a number, a list such as 50,100,400, or 'auto'; not {text!r}") from None
    if any(not b >= 0 for b in betas):
        raise click.BadParameter(f"beta must be >= 0, not {text!r}")
    return betas


def _print_version(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from . import runtime

    click.echo(f"seqmaxent {__version__}\ncore kernels {runtime.kernels()}\nONNX Runtime {runtime.version()}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version, the core's kernel level and ONNX Runtime's version.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Maximum-entropy sampling of what a DNA network has learned (Finnegan & Song 2017)."""
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("model")
@click.option("--positions", help="For a head applied at every position: the output positions (1-based) to explain, "
                                  "which decide the evaluation path shown.")
@with_model_options
def inspect(model: str, positions, layout: str | None, alphabet: str, phi: str | None, head: str | None,
            class_names) -> None:
    """Show MODEL's (a file, or a bundled model: ctcf) input layout, length, outputs and their
    heads, Phi, and how each layer is evaluated."""
    click.echo(open_model(model, layout, alphabet, phi, head, class_names).info(parse_positions(positions)))


@cli.command()
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
@click.option("--steps", default=4400, show_default=True, help="Steps per chain in the first round, after burn-in.")
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
@click.option("--quiet", is_flag=True, help="No progress bar.")
@with_model_options
def sample(model: str, input: str, output: str, force, input_alphabet, genome, beta, target, tolerance, mu,
           gc_fraction, units, region, constrained, sampler, moves, rungs, chains, steps, max_rounds, period, burn_in, seed,
           threads, provider, on_n, batch_size, resume, shard, scheduler, workers, quiet, layout, alphabet, phi, head,
           class_names, positions) -> None:
    """Sample the MaxEnt distribution around each sequence of INPUT (FASTA, one-hot .npy, BED with
    --genome, or - for FASTA on standard input) through MODEL (an ONNX file, or a bundled model:
    ctcf) into OUTPUT."""
    from .inputs import count_records
    from .pipeline import output_paths, sample_file, shard_path
    from .sampling import gc_mu, resolve_lengths, steps_at_cap
    from .store import exists

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
    options = dict(mu=mu, units=parse_units(units), positions=parse_positions(positions), region=region,
                   constrained=constrained,
                   sampler=sampler, moves=moves, rungs=rungs, threads=threads, provider=provider, seed=seed)
    if betas == ["auto"]:
        from itertools import islice

        from .calibrate import calibrate_beta, pilot_size
        from .inputs import read_inputs

        pilot = [s for _, s in islice(read_inputs(input, input_alphabet or m.alphabet, genome, on_n), 8)]
        calibration = calibrate_beta(m, pilot, target=target, tolerance=tolerance, on_n=on_n,
                                     **pilot_size(chains, steps), **options)
        click.echo(str(calibration), err=True)
        betas = [calibration.beta]
    burn_in, period = resolve_lengths(steps, burn_in, period)
    total = inputs * steps_at_cap(betas, dict(options, chains=chains, steps=steps, burn_in=burn_in, period=period,
                                              max_rounds=max_rounds))
    if scheduler is not None and workers is not None:
        raise click.UsageError("give --scheduler or --workers, not both")
    client = None
    if scheduler is not None or workers is not None:
        from .cluster import connect

        client = connect(scheduler, workers)
    if part is not None:
        total = total // part[1]
    paths = [p if part is None else shard_path(p, part) for p in output_paths(output, betas[0] if len(betas) == 1 else
                                                                               betas).values()]
    bar = _steps_bar(total, quiet, cluster=client is not None)
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


def stored_inputs(path: Path) -> int:
    """Inputs in a results file (0 if there is none yet)."""
    from .store import load

    if not path.exists():
        return 0
    _, names, h5 = load(path)
    h5.close()
    return len(names)


@contextmanager
def spooled_stdin() -> Iterator[str]:
    """FASTA (plain or gzip) on standard input, copied to a temporary file that is removed afterwards
    (its records are counted, then read)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="seqmaxent-") as folder:
        path = Path(folder) / "stdin.fa"
        source = sys.stdin.buffer
        with open(path, "wb") as f:
            shutil.copyfileobj(source, f)
        with open(path, "rb") as f:
            head = f.read(2)
        if not head:
            raise click.UsageError("standard input is empty: pipe FASTA into it, or give an input file")
        if head == b"\x1f\x8b":
            path = path.rename(path.with_suffix(".fa.gz"))
        yield str(path)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'I/N' (0 <= I < N), or None; without it, the SLURM job-array task when there is one."""
    import os

    if text is None:
        task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
        if task is None or count is None:
            return None
        return int(task) - int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0")), int(count)
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise click.BadParameter(f"expected I/N such as 0/10, not {text!r}") from None
    if not 0 <= i < n:
        raise click.BadParameter(f"shard I/N needs 0 <= I < N, not {text!r}")
    return i, n


@cli.command()
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Results file to write.")
def merge(shards: tuple[str, ...], output: str) -> None:
    """Join the SHARDS of one run (seqmaxent sample --shard I/N) into one results file, in input order."""
    from .merge import merge as join

    if Path(output).exists():
        raise click.UsageError(f"{output} exists; remove it first")
    click.echo(f"merged {join(list(shards), output)} input(s) from {len(shards)} shard(s) into {output}", err=True)


SUMMARY_COLUMNS = ["input", "prediction", "called", "class_kept", "converged", "rhat", "ess", "acceptance", "rounds",
                   "evaluations", "gc_samples", "gc_x0", "gc_background", "max_importance_bits", "fixed_positions",
                   "top_positions"]


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="TSV file to write.  [default: standard output]")
@click.option("--top", default=10, show_default=True, help="Most important positions listed per input.")
def summarize(results: tuple[str, ...], output: str | None, top: int) -> None:
    """One tab-separated row per input of RESULTS: the network's verdict (prediction: what the file's
    'verdict' says, e.g. P(bound)), whether the samples keep it, convergence (R-hat and ESS as the
    check sees them), GC, and the fixed and most important positions (1-based; importance in
    bits). What each file is goes to standard error."""
    import numpy as np

    from .diagnostics import checked, describe_sampler, run_summary
    from .formatting import position_runs
    from .motifs import THRESHOLD
    from .store import load

    several = len(results) > 1
    lines = ["\t".join((["file", "beta"] if several else []) + SUMMARY_COLUMNS)]
    for result in results:
        params, names, h5 = load(result)
        with h5:
            click.echo(f"{result}: {len(names)} input(s), model {params['model']}, beta {params['beta']:.4g}, "
                       f"mu {params['mu']:.3g}, prediction = {params.get('verdict', 'the output')}; "
                       f"{describe_sampler(params)}", err=True)
            checks = [checked(h5, i) for i in range(len(names))]
            acceptance = h5["acceptance"][:].mean(axis=1)
            for i, name in enumerate(names):
                imp = h5["importance"][i]
                best = np.argsort(imp)[::-1][:top]
                gc = h5["gc"][i]
                called = {1: "yes", 0: "no", -1: "-"}[int(h5["called"][i])]
                row = [name, f"{h5['prediction'][i]:.4g}", called, f"{h5['kept_class'][i]:.3g}",
                       "yes" if h5["converged"][i] else "no", f"{checks[i][0]:.4g}", f"{checks[i][1]:.4g}",
                       f"{acceptance[i]:.3g}", str(h5["rounds"][i]), str(h5["evaluations"][i]), f"{gc[0]:.3g}",
                       f"{gc[1]:.3g}", f"{gc[2]:.3g}", f"{imp.max():.3g}",
                       position_runs(np.flatnonzero(imp >= THRESHOLD) + 1),
                       ",".join(f"{p + 1}:{imp[p]:.2f}" for p in best)]
                lines.append("\t".join(([result, f"{params['beta']:g}"] if several else []) + row))
            line = run_summary([c[0] for c in checks], [c[1] for c in checks], acceptance)
            if line:
                click.echo(f"warning: {result}: {line}", err=True)
    text = "\n".join(lines) + "\n"
    if output:
        Path(output).write_text(text)
        click.echo(f"wrote {len(lines) - 1} row(s) to {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
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

    from .store import load
    from .variants import read_variants, score_variants, write_tsv

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


def _steps_bar(total: int, quiet: bool = False, cluster: bool = False):
    """The sampling progress bar, in steps of all replicas at the round cap. It shows after a second
    (at once on a cluster, whose bar moves batch by batch), so that an input found bad at the start
    gives its error alone."""
    from tqdm import tqdm

    return tqdm(total=total, unit="step", unit_scale=True, disable=quiet, desc="sampling (steps at the round cap)",
                delay=0 if cluster else 1)


def _inputs_bar(total: int, what: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="input", desc=what, leave=False)


@cli.command()
@click.argument("result", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="Folder for the logo files.")
@click.option("--max-inputs", default=50, show_default=True, help="Logos for at most this many inputs.")
def logos(result: str, outdir: str, max_inputs: int) -> None:
    """Probability and information logos of each input's samples (fixed 0-2 bit axis), with
    importance (bits) and x0, positions numbered from 1 and motifs shaded (PNG, SVG)."""
    from . import logos as logo_figures
    from . import motifs as m
    from .region import recorded
    from .sampling import constrained_mask
    from .store import load
    from .summary import background

    params, names, h5 = load(result)
    Path(outdir).mkdir(parents=True, exist_ok=True)
    bg = background(params["mu"], constrained_mask(params["constrained"], params["alphabet"]))
    shown = [short(n) for n in names[:max_inputs]]
    with h5, _inputs_bar(len(shown), "logos") as bar:
        for i, (name, stem) in enumerate(zip(shown, file_stems(names[:max_inputs]))):
            found = m.extract(name, h5["marginals"][i], h5["importance"][i], params["alphabet"])
            L = len(h5["x0"][i])
            window = logo_figures.focus(h5["importance"][i], region=recorded(params, L))
            span = "" if window is None else f"; positions {window[0] + 1}-{window[1]} of {L}"
            fig = logo_figures.figure(h5["marginals"][i], h5["importance"][i], h5["x0"][i], params["alphabet"], bg,
                                      title=f"{name}  (beta {params['beta']:g}; {params.get('verdict', 'prediction')} "
                                            f"{h5['prediction'][i]:.3g}{span})",
                                      motifs=[(x.start, x.start + len(x.pwm), x.span) for x in found], window=window)
            logo_figures.save(fig, Path(outdir) / stem)
            bar.update()
    click.echo(f"wrote logos of {len(shown)} input(s) to {outdir}", err=True)


@cli.command()
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
    from . import motifs as m
    from .store import load

    params, names, h5 = load(result)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    found, frozen = [], []
    with h5, _inputs_bar(len(names), "motifs") as bar:
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


@cli.command()
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
    from .report import build
    from .store import load

    params, names, h5 = load(results[0])
    h5.close()
    scored = None
    if variants:
        from .variants import read_variants, score_variants

        scored = score_variants(results[0], read_variants(variants, names))
    if not no_match:
        click.echo("matching motifs against JASPAR (the first match on a new install compiles memelite: ~1 min "
                   "once)...", err=True)
    with _inputs_bar(min(len(names), max_inputs), "report") as bar:
        path = build(list(results), output, max_inputs=max_inputs, match=not no_match, sort=sort, progress=bar.update,
                     variants=scored)
    click.echo(f"wrote {path}", err=True)


@cli.command()
@click.argument("model_a")
@click.argument("model_b")
@click.argument("input", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="Folder for compare.tsv and compare.html.")
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
    differs most, B minus A in bits) and OUTDIR/compare.html (both importance logos stacked)."""
    import numpy as np

    from .compare import compare as run_compare
    from .compare import page, table
    from .inputs import count_records, read_inputs
    from .sampling import gc_mu, steps_at_cap

    a = open_model(model_a, None, "ACGT", None, None, None)
    b = open_model(model_b, None, "ACGT", None, None, None)
    names, seqs = zip(*read_inputs(input, a.alphabet)) if count_records(input) else ((), ())
    if not names:
        raise click.UsageError(f"{input} holds no sequences")
    options = dict(beta=beta, units=parse_units(units), positions=parse_positions(positions), region=region,
                   tolerance=tolerance, mu=0.0 if gc_fraction is None else gc_mu(gc_fraction), chains=chains,
                   steps=steps, max_rounds=max_rounds, seed=seed, threads=threads)
    with _steps_bar(2 * len(names) * steps_at_cap([beta], options)) as bar:
        c = run_compare(a, b, list(seqs), names=list(names), progress=bar.update, **options)
    Path(outdir).mkdir(parents=True, exist_ok=True)
    (Path(outdir) / "compare.tsv").write_text(table(c))
    html_path = page(c, Path(outdir) / "compare.html", (Path(model_a).name, Path(model_b).name))
    click.echo(f"compared {len(names)} input(s): B keeps a median {np.median(c.kept[0]):.0%} of A's samples in x0's "
               f"class, A {np.median(c.kept[1]):.0%} of B's; wrote {Path(outdir) / 'compare.tsv'} and {html_path}",
               err=True)


@cli.command()
@click.option("-o", "--outdir", default="seqmaxent-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--threads", type=int, help="CPU threads.  [default: all cores]")
def demo(outdir: str, threads: int | None) -> None:
    """Run the bundled CTCF network on the bundled CTCF examples: results file and HTML report."""
    import time

    from . import bundled
    from .inputs import count_records
    from .model import Model
    from .motifs import warm_up
    from .pipeline import sample_file
    from .report import build
    from .sampling import default_threads, gc_mu, steps_at_cap

    start = time.perf_counter()
    if warm_up() and threads is None:  # memelite compiles Tomtom (once per install) on one core meanwhile
        threads = max(1, default_threads() - 1)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    result = out / "ctcf.h5"
    result.unlink(missing_ok=True)
    model = Model(bundled.ctcf_model_path())
    examples = bundled.ctcf_examples_path()
    click.echo(f"sampling {examples.name} through the bundled CTCF network...", err=True)
    options, inputs = dict(beta=50.0, mu=gc_mu(0.42), seed=0, threads=threads), count_records(examples)
    with _steps_bar(inputs * steps_at_cap([options["beta"]], options)) as bar:
        sample_file(model, examples, result, progress=bar.update, **options)
    with _inputs_bar(inputs, "report") as bar:
        html_path = build([result], out / "report.html", progress=bar.update)
    click.echo(f"results: {result}\nreport:  {html_path}\n({time.perf_counter() - start:.0f} s)")


def main() -> None:
    """Entry point: one-line errors (exit 1) unless --debug."""
    debug = "--debug" in sys.argv[1:]
    try:
        with stop_on_sigterm():
            cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as e:
        ignore_further()
        if isinstance(e.__cause__ or e.__context__, EOFError):  # click turns an EOFError into Abort
            click.echo(f"error: an input ended early (truncated file?): {e.__cause__ or e.__context__}", err=True)
            sys.exit(1)
        click.echo(describe(e) if isinstance(e, KeyboardInterrupt) else "interrupted", err=True)
        sys.exit(exit_code(e) if isinstance(e, KeyboardInterrupt) else 130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except Exception as e:
        if (stop := _stop_behind(e)) is not None:  # a library that wraps the KeyboardInterrupt (an import's init)
            ignore_further()
            click.echo(describe(stop), err=True)
            sys.exit(exit_code(stop))
        if debug:
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(1)


def _stop_behind(e: BaseException | None) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM in an exception's chain of causes, if any."""
    seen = set()
    while e is not None and not isinstance(e, KeyboardInterrupt) and id(e) not in seen:
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return e if isinstance(e, KeyboardInterrupt) else None
