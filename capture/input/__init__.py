"""Input sources: mouse, keys and scrolls (X RECORD on X11, pynput elsewhere)."""
