"""Tests of `consent/`."""
