"""seqmaxent demo: the bundled CTCF network on the bundled examples, with a report."""

from __future__ import annotations

from pathlib import Path

import click

from .options import inputs_bar, steps_bar


@click.command()
@click.option("-o", "--outdir", default="seqmaxent-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--threads", type=int, help="CPU threads.  [default: all cores]")
def demo(outdir: str, threads: int | None) -> None:
    """Run the bundled CTCF network on the bundled CTCF examples: results file and HTML report."""
    import time

    from ..io import bundled
    from ..io.inputs import count_records
    from ..network.model import Model
    from ..explain.motifs import warm_up
    from ..sampling.pipeline import sample_file
    from ..explain.report import build
    from ..sampling.settings import default_threads, gc_mu, steps_at_cap

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
    with steps_bar(inputs * steps_at_cap([options["beta"]], options, model.length)) as bar:
        sample_file(model, examples, result, progress=bar.update, **options)
    with inputs_bar(inputs, "report") as bar:
        html_path = build([result], out / "report.html", progress=bar.update)
    click.echo(f"results: {result}\nreport:  {html_path}\n({time.perf_counter() - start:.0f} s)")
