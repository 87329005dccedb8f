"""Run the reproductions and write docs/results.md: `python -m experiments`."""

from __future__ import annotations

import json

from . import ctcf, nucleosome, xor
from .common import DOCS

HEADER = """# Reproducing Finnegan & Song (2017) with seqmaxent

Rebuilt by `python -m experiments` from the data in `../shared/data` (PyTorch needed for training
and the attribution baselines; the sampler itself never uses it). Trained models are committed in
`experiments/models/`.
"""


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    sections = [HEADER]
    for name, experiment in (("xor", xor), ("ctcf", ctcf), ("nucleosome", nucleosome)):
        results = experiment.run()
        (DOCS / f"{name}.json").write_text(json.dumps(results, indent=1))
        sections.append(experiment.write(results))
    (DOCS / "results.md").write_text("\n".join(sections))
    print(f"wrote {DOCS / 'results.md'}")


if __name__ == "__main__":
    main()
