"""What the commands share: the model options, parsers of beta, units, positions and shards, the
progress bars and standard input as a file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click


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
    from ..network.model import Model

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


def steps_bar(total: int, quiet: bool = False, cluster: bool = False):
    """The sampling progress bar, in steps of all replicas at the round cap. It shows after a second
    (at once on a cluster, whose bar moves batch by batch), so that an input found bad at the start
    gives its error alone."""
    from tqdm import tqdm

    return tqdm(total=total, unit="step", unit_scale=True, disable=quiet, desc="sampling (steps at the round cap)",
                delay=0 if cluster else 1)


def inputs_bar(total: int, what: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="input", desc=what, leave=False)
