"""Reproductions of Finnegan & Song (2017) on the data in ../shared/data: `python -m experiments`."""
