"""Reading what is recorded for people and trainers: the HTML viewer, trajectories."""
