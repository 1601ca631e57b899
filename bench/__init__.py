"""Benchmarks: `python bench/run.py` (see run.py); each module measures one part of issue 13."""
