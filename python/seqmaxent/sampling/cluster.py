"""Sampling batches of inputs as tasks on a Dask cluster (``pip install 'seqmaxent[dask]'``).

The caller's process reads the inputs, submits one task per run of inputs with a bounded number
in flight, and writes the results in input order; workers sample with all their threads. The model
travels once per worker and is loaded once per worker process. It is a task of the graph, not
scattered data, so the scheduler can recompute it when every worker holding it dies.
"""

from __future__ import annotations

import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import SequenceError
from ..network.model import Model
from .run import to_codes
from .sampler import sample_values
from .settings import default_threads, steps_at_cap

_MODELS: dict[tuple, Model] = {}  # per worker process: loaded models by (SHA-256, layout, alphabet, phi, head)
IN_FLIGHT_PER_WORKER = 2


def connect(scheduler: str | None = None, workers: int | None = None, timeout: str = "10s"):
    """A dask.distributed Client: to the scheduler at `scheduler`, or to a new local cluster of
    `workers` single-process workers (each using its share of this machine's cores)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("running on a Dask cluster needs dask.distributed: pip install 'seqmaxent[dask]'") from None
    if scheduler is not None:
        try:
            return Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as e:
            raise OSError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    n = max(1, int(workers))
    cluster = LocalCluster(n_workers=n, threads_per_worker=max(1, default_threads() // n), processes=True,
                           dashboard_address=":0")
    return Client(cluster)


def _model(data: bytes, sha256: str, layout: str, alphabet: str, phi: str | None, head: str) -> Model:
    key = (sha256, layout, alphabet, phi, head)
    if key not in _MODELS:  # in the worker's own folder, which Dask removes with the worker (even a killed one)
        from dask.distributed import get_worker

        path = Path(tempfile.mkdtemp(prefix="seqmaxent-", dir=get_worker().local_directory)) / f"{sha256}.onnx"
        path.write_bytes(data)
        _MODELS[key] = Model(path, layout=layout, alphabet=alphabet, phi=phi, head=head)
    return _MODELS[key]


def _bytes(data: bytes) -> bytes:
    return data


def _task(data: bytes, model_key: tuple, first: int, names: list[str], seqs: list[str], betas: list[float],
          on_n: str, source: str, options: dict) -> list[dict]:
    from dask.distributed import get_worker

    model = _model(data, *model_key)
    if options.get("threads") is None:
        options = {**options, "threads": get_worker().state.nthreads}
    return sample_values(model, first, names, seqs, betas, on_n, source, **options)


def map_ordered(client, model: Model, work: Iterable[tuple[int, list[str], list[str]]], betas: list[float],
                on_n: str, source: str, progress: Callable[[int], None] | None,
                options: dict) -> Iterator[tuple[list[str], list[dict]]]:
    """(names, values of each beta) of every work item, in order, computed on the client's workers
    with at most IN_FLIGHT_PER_WORKER tasks per worker submitted at a time."""
    with warnings.catch_warnings():  # the model is in the graph once, on purpose (see the module docstring)
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        data = client.submit(_bytes, model.path.read_bytes(), key=f"seqmaxent-model-{model.sha256}", pure=True)
    key = (model.sha256, model.layout, model.alphabet, model.phi_name, model.head_name)
    limit = IN_FLIGHT_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
    pending: deque = deque()
    items, bad_input = iter(work), None
    try:
        while True:
            while bad_input is None and len(pending) < limit:
                try:
                    item = next(items, None)
                    if item is not None:  # bad bases found here, not as tracebacks on a worker
                        to_codes(model, item[2], item[1], on_n, item[0], source)
                except SequenceError as e:  # a bad input ahead: the batches before it are finished first
                    bad_input = e
                    break
                if item is None:
                    break
                first, names, seqs = item
                future = client.submit(_task, data, key, first, names, seqs, betas, on_n, source, options, pure=False)
                pending.append((names, future))
            if not pending:
                if bad_input is not None:
                    raise bad_input
                return
            names, future = pending.popleft()
            values = future.result()
            if progress is not None:
                progress(len(names) * steps_at_cap(betas, options, len(values[0]["x0"][0])))
            yield names, values
    finally:
        for _, future in pending:
            future.cancel()
