"""seqmaxent summarize: one TSV row per input of results files."""

from __future__ import annotations

from pathlib import Path

import click

SUMMARY_COLUMNS = ["input", "prediction", "called", "class_kept", "converged", "rhat", "ess", "acceptance", "rounds",
                   "evaluations", "gc_samples", "gc_x0", "gc_background", "max_importance_bits", "fixed_positions",
                   "top_positions"]


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="TSV file to write.  [default: standard output]")
@click.option("--top", default=10, show_default=True, help="Most important positions listed per input.")
def summarize(results: tuple[str, ...], output: str | None, top: int) -> None:
    """One tab-separated row per input of RESULTS: the network's verdict (prediction: what the file's
    'verdict' says, e.g. P(bound)), whether the samples keep it, convergence (R-hat and ESS as the
    check sees them), GC, and the fixed and most important positions (1-based; importance in
    bits). What each file is goes to standard error."""
    import numpy as np

    from ..explain.diagnostics import checked, describe_sampler, run_summary
    from ..formatting import position_runs
    from ..explain.motifs import THRESHOLD
    from ..io.store import load

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
