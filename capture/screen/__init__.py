"""The screen source: grabs, DAMAGE regions, masks, frame encoding."""
