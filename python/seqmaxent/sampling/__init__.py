"""Running the sampler: checked settings, one run's state on the core (rounds, thinning, ladder
tuning), :func:`~seqmaxent.sampling.sampler.sample`, choosing beta, whole files in batches
(here, in shards or on Dask) and two models compared. Imports every layer below it: the base
modules, :mod:`seqmaxent.io`, :mod:`seqmaxent.network` and :mod:`seqmaxent.explain`."""
