"""Attacks on the x11 marker rule: a test that would start Xvfb without the marker is refused.

``pytest -m "not x11"`` must run on a machine with no X server; these prove that an
unmarked test cannot quietly start one, in-process or through the shared fixtures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.xserver import XServerError, start_xserver

ROOT = Path(__file__).resolve().parents[1]


def test_an_unmarked_test_calling_start_xserver_is_refused_before_xvfb_starts() -> None:
    with pytest.raises(XServerError, match=r"test_x11_marker\.py::.* is not marked x11"):
        start_xserver(64, 64, window_manager=False)


def _run_pytest(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_probe.py"
    test.write_text(body)
    pytest_args = [
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.conftest",
        "--rootdir",
        str(tmp_path),
    ]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *pytest_args,
            "-c",
            str(ROOT / "pyproject.toml"),
            str(test),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_unmarked_test_using_the_x_fixtures_fails_the_whole_run(tmp_path: Path) -> None:
    done = _run_pytest(
        tmp_path,
        "def test_quiet(x_display: str) -> None:\n    pass\n\n"
        "def test_other(xterm: object) -> None:\n    pass\n",
    )
    assert done.returncode != 0, done.stdout
    out = done.stdout + done.stderr
    assert "tests using an X server must be marked x11" in out, out
    assert "test_probe.py::test_quiet" in out and "test_probe.py::test_other" in out, out
    assert " passed" not in out, out  # refused at collection: nothing ran, no Xvfb started
