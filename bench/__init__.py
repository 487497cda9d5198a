"""Benchmarks: kernel against ipyparallel and dask, and against the raw wire.

Run ``python -m bench`` (see bench/README.md). Every process a benchmark
starts is killed by pid before it returns.
"""
