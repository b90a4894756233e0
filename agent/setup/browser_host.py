"""Install the browser extension's native-messaging host for this user.

`capture-agent privacy browser-host install` writes a launcher into the capture home
(it runs ``capture.window.browser_host`` with this agent's Python and socket) and a
host manifest where each browser looks for one (``<config>/NativeMessagingHosts`` for
the Chromium family, ``~/.mozilla/native-messaging-hosts`` for Firefox), allowing only
the tab reporter extension (browser/extension/) to start it. ``doctor`` uses
``extension_state`` to say when the extension or its host is missing.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.paths import Paths
from capture.window.browser_url import SOCKET_NAME
from storage.atomic import write_atomic

HOST_NAME = "org.capture_agent.browser"
EXTENSION_ID = "apmeoojlghkjhaohcdmpblnfmfmfpmol"
"""The Chromium id of browser/extension/ (from the public key in its manifest)."""
GECKO_ID = "tab-reporter@capture-agent.invalid"
"""The Firefox id of browser/extension/ (browser_specific_settings.gecko.id)."""
LAUNCHER = "browser-host"

# Where each browser family reads per-user host manifests, under the home directory.
CHROMIUM_DIRS = {
    "chromium": ".config/chromium",
    "google-chrome": ".config/google-chrome",
    "microsoft-edge": ".config/microsoft-edge",
    "brave": ".config/BraveSoftware/Brave-Browser",
    "vivaldi": ".config/vivaldi",
}
FIREFOX_DIR = ".mozilla"
# Managed-policy folders where an organisation force-installs extensions (DEPLOY.md).
POLICY_DIRS = ("/etc/chromium/policies/managed", "/etc/opt/chrome/policies/managed",
               "/etc/opt/edge/policies/managed", "/etc/firefox/policies")  # fmt: skip


@dataclass(frozen=True)
class Installed:
    """What ``install`` wrote."""

    launcher: Path
    manifests: tuple[Path, ...]


def launcher_text(paths: Paths, python: str = sys.executable) -> str:
    """The launcher script: this Python, the host module, the agent's socket."""
    sock = paths.socket_path.with_name(SOCKET_NAME)
    return (
        "#!/bin/sh\n# Written by `capture-agent privacy browser-host install`.\n"
        f"exec {shlex.quote(python)} -m capture.window.browser_host "
        f'--socket {shlex.quote(str(sock))} "$@"\n'
    )


def chromium_manifest(launcher: Path, extension_id: str = EXTENSION_ID) -> dict[str, object]:
    """The host manifest for Chromium-family browsers."""
    return {
        "name": HOST_NAME,
        "description": "capture-agent: the focused tab's site, for the denylist",
        "path": str(launcher),
        "type": "stdio",
        "allowed_origins": [f"chrome-extension://{extension_id}/"],
    }


def firefox_manifest(launcher: Path, gecko_id: str = GECKO_ID) -> dict[str, object]:
    """The host manifest for Firefox."""
    return {
        "name": HOST_NAME,
        "description": "capture-agent: the focused tab's site, for the denylist",
        "path": str(launcher),
        "type": "stdio",
        "allowed_extensions": [gecko_id],
    }


def install(
    paths: Paths,
    user_home: Path,
    extension_id: str = EXTENSION_ID,
    into: Path | None = None,
    python: str = sys.executable,
) -> Installed:
    """Write the launcher and the manifests (only into ``into`` when given: a browser
    started with its own ``--user-data-dir``)."""
    launcher = paths.config_dir / LAUNCHER
    write_atomic(launcher, launcher_text(paths, python).encode(), mode=0o700)
    chromium = json.dumps(chromium_manifest(launcher, extension_id), indent=2).encode()
    written: list[Path] = []
    targets = [into] if into is not None else [user_home / d for d in CHROMIUM_DIRS.values()]
    for folder in targets:
        hosts = folder / "NativeMessagingHosts"
        hosts.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(hosts / f"{HOST_NAME}.json", chromium, mode=0o644)
        written.append(hosts / f"{HOST_NAME}.json")
    if into is None:
        hosts = user_home / FIREFOX_DIR / "native-messaging-hosts"
        hosts.mkdir(parents=True, exist_ok=True, mode=0o700)
        firefox = json.dumps(firefox_manifest(launcher), indent=2).encode()
        write_atomic(hosts / f"{HOST_NAME}.json", firefox, mode=0o644)
        written.append(hosts / f"{HOST_NAME}.json")
    return Installed(launcher, tuple(written))


@dataclass(frozen=True)
class ExtensionState:
    """Whether the host is installed and the extension present, per browser found."""

    browsers: tuple[str, ...]
    """Browser configuration folders found for this user (chromium, firefox, ...)."""
    host_missing: tuple[str, ...]
    extension_missing: tuple[str, ...]


def extension_state(user_home: Path) -> ExtensionState:
    """Look for each browser's configuration, host manifest and the extension (in a
    profile's Extensions folder, or force-installed by a managed policy)."""
    forced = _force_installed()
    browsers, host_missing, ext_missing = [], [], []
    for name, rel in CHROMIUM_DIRS.items():
        root = user_home / rel
        if not root.is_dir():
            continue
        browsers.append(name)
        if not (root / "NativeMessagingHosts" / f"{HOST_NAME}.json").is_file():
            host_missing.append(name)
        profiles = [p for p in root.iterdir() if (p / "Preferences").is_file()]
        present = any((p / "Extensions" / EXTENSION_ID).is_dir() for p in profiles)
        if not present and not forced:
            ext_missing.append(name)
    mozilla = user_home / FIREFOX_DIR
    if (mozilla / "firefox").is_dir():
        browsers.append("firefox")
        if not (mozilla / "native-messaging-hosts" / f"{HOST_NAME}.json").is_file():
            host_missing.append("firefox")
        profiles = [p for p in (mozilla / "firefox").iterdir() if p.is_dir()]
        present = any((p / "extensions" / f"{GECKO_ID}.xpi").is_file() for p in profiles)
        if not present and not forced:
            ext_missing.append("firefox")
    return ExtensionState(tuple(browsers), tuple(host_missing), tuple(ext_missing))


def _force_installed() -> bool:
    for folder in POLICY_DIRS:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            try:
                text = Path(folder, name).read_text("utf-8", errors="replace")[:1_000_000]
            except OSError:
                continue
            if EXTENSION_ID in text or GECKO_ID in text:
                return True
    return False
