"""Reading samples: per-position summaries and importance, convergence diagnostics, the network's
verdict on x0 and its samples, the Result, motifs, logos, variant scores and the HTML report.
Imports the base modules, :mod:`seqmaxent.io` and :mod:`seqmaxent.network`."""
