"""The running daemon: threads, pipeline, consent runtime, control socket, health."""
