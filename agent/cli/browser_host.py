"""`capture-agent privacy browser-host install`: let the browser extension reach the agent."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from agent.cli.common import home as _home
from agent.cli.common import out as _out
from agent.errors import AgentError


def cmd_install(args: argparse.Namespace) -> int:
    """Install the native-messaging host the tab reporter extension talks to."""
    from agent.setup.browser_host import EXTENSION_ID, install

    ext_id = args.extension_id or EXTENSION_ID
    if not re.fullmatch(r"[a-p]{32}", ext_id):
        raise AgentError("--extension-id must be 32 letters a-p (see chrome://extensions)")
    paths, _ = _home()
    into = Path(args.dir).expanduser() if args.dir else None
    try:
        done = install(paths, Path.home(), ext_id, into)
    except OSError as exc:
        raise AgentError(f"cannot write the host manifest: {exc.strerror or exc}") from None
    if args.json:
        _out(
            json.dumps(
                {"launcher": str(done.launcher), "manifests": [str(m) for m in done.manifests]}
            )
        )
        return 0
    _out(f"launcher {done.launcher}")
    for manifest in done.manifests:
        _out(f"host manifest {manifest}")
    _out("now install the extension (browser/extension/, or by policy: docs/DEPLOY.md)")
    return 0


def register(privacy_sub: Any) -> None:
    """Add `privacy browser-host install` to the `privacy` group."""
    group = privacy_sub.add_parser(
        "browser-host",
        help="install the host the browser extension sends tab URLs to",
        description="The tab reporter extension (browser/extension/) tells the agent the "
        "focused tab's URL through a native-messaging host; `install` writes it.",
    )
    sub = group.add_subparsers(dest="browser_host_command", required=True)
    p = sub.add_parser("install", help=cmd_install.__doc__, description=cmd_install.__doc__)
    p.add_argument(
        "--dir",
        metavar="DIR",
        help="only this Chromium user-data folder (a browser run with --user-data-dir)",
    )
    p.add_argument(
        "--extension-id", metavar="ID", help="the extension's id, if you packed your own"
    )
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=cmd_install)
