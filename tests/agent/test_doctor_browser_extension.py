"""doctor says when the tab reporter extension or its native host is missing (issue 19)."""

from __future__ import annotations

from pathlib import Path

from agent.paths import resolve_paths
from agent.setup.browser_host import EXTENSION_ID, HOST_NAME, install
from agent.setup.doctor import Context, check_browser_extension


def _check(tmp_path: Path, user: Path) -> tuple[str, str]:
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(tmp_path / "agent")})
    ctx = Context(paths, None, None, {"HOME": str(user)}, "linux")
    found = check_browser_extension(ctx)
    assert found.status == "ok" or found.fix
    return found.status, found.detail


def test_no_browser_is_fine(tmp_path: Path) -> None:
    assert _check(tmp_path, tmp_path / "user") == ("ok", "no browser profile found for this user")


def test_a_browser_without_the_extension_is_a_warning_until_both_are_there(tmp_path: Path) -> None:
    user = tmp_path / "user"
    profile = user / ".config" / "chromium" / "Default"
    profile.mkdir(parents=True)
    (profile / "Preferences").write_text("{}")
    status, detail = _check(tmp_path, user)
    assert status == "warn" and "chromium" in detail and "titles only" in detail
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(tmp_path / "agent")})
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    install(paths, user, into=user / ".config" / "chromium")
    assert (user / ".config/chromium/NativeMessagingHosts" / f"{HOST_NAME}.json").is_file()
    assert _check(tmp_path, user)[0] == "warn"  # the host alone is not enough
    (profile / "Extensions" / EXTENSION_ID).mkdir(parents=True)
    assert _check(tmp_path, user) == ("ok", "installed in chromium")
