"""Tests of `capture/`."""
