"""Data files the detectors load: term lists, one entry a line (see each file's header)."""
