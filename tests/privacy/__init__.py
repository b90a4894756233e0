"""Tests of `privacy/`."""
