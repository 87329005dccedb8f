"""Inputs and results files: sequences and their codes, FASTA/BED/one-hot readers, regions as
users write them, the crash-safe HDF5 results file, merging shards, the bundled model and
examples. Imports only the package's base modules (errors, interrupts, formatting)."""
