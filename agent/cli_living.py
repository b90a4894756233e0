"""Commands for living with the agent: service, doctor, view."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `service`, `doctor` and `view` commands to the CLI."""
