"""Whether keys now go to a password field, per platform."""
