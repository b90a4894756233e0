"""Benchmarks of DESIGN.md §11: figures, not pass/fail. Run with ``python -m bench``."""
