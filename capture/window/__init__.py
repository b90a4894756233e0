"""Window focus and the list of visible windows, per platform."""
