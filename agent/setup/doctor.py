"""`capture-agent doctor`: is this machine able to record, and if not, what to do.

Each check returns a ``Check`` with a status (ok, warn, fail), what it found and, when
not ok, a fix a person can act on. A check never raises: an unexpected error is itself
a failed check. Checks read configuration defensively (``getattr``) because some
sections (upload) are not part of every configuration.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from agent.config import Config
from agent.paths import Paths

Status = Literal["ok", "warn", "fail"]

# Free space below which recording will soon stop (retention blocks capture at its cap).
DISK_FAIL_BYTES = 500_000_000
DISK_WARN_BYTES = 5_000_000_000
# Years outside this range mean a dead RTC battery or a badly set clock: timestamps in
# chunks, snooze ends and policy leases would all be wrong.
SANE_YEARS = (2024, 2100)
# Wall and monotonic clocks disagreeing by more than this over the probe is a jump.
CLOCK_JUMP_SECONDS = 1.0


@dataclass(frozen=True)
class Check:
    """One finding: ``name``, ``status``, ``detail``, and ``fix`` when not ok."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class Context:
    """What the checks look at: paths, config (None if unreadable), environment, platform."""

    paths: Paths
    config: Config | None
    config_error: str | None
    environ: Mapping[str, str]
    platform: str


# -- individual checks ---------------------------------------------------------------------


def check_config(ctx: Context) -> Check:
    """The configuration file exists and is valid."""
    if ctx.config is not None:
        return Check("config", "ok", f"{ctx.paths.config_file} is valid")
    return Check(
        "config",
        "fail",
        ctx.config_error or "no configuration",
        "run `capture-agent init`, or fix the key named above (see config.example.toml)",
    )


def check_display(ctx: Context) -> Check:
    """An X11 display can be opened (Linux); a Wayland session fails, XWayland or not."""
    if not ctx.platform.startswith("linux"):
        return Check("display", "ok", f"{ctx.platform}: no X display needed")
    from capture.display import check_display as open_display
    from capture.display import wayland_session
    from capture.errors import SourceUnavailable

    try:
        open_display("capture", ctx.environ)
    except SourceUnavailable as exc:
        fix = (
            "log out, pick an 'Xorg'/'X11' session at the login screen, log back in"
            if wayland_session(ctx.environ) is not None
            else "run the agent inside your desktop session (DISPLAY=:0) "
            "and check `xhost`/XAUTHORITY"
        )
        return Check("display", "fail", str(exc), fix)
    return Check("display", "ok", f"X11 display {ctx.environ.get('DISPLAY')} opens")


def check_permissions(ctx: Context) -> Check:
    """Input monitoring and screen recording permission (macOS needs both granted)."""
    if ctx.platform == "darwin":
        granted = _macos_screen_access()
        detail = (
            "screen recording permission: "
            + {True: "granted", False: "NOT granted", None: "unknown"}[granted]
            + "; input monitoring and accessibility cannot be checked without prompting"
        )
        return Check(
            "permissions",
            "fail" if granted is False else "warn",
            detail,
            "System Settings > Privacy & Security: allow the terminal (or Python) "
            "under Input Monitoring, Accessibility and Screen Recording, then "
            "restart the agent",
        )
    if ctx.platform == "win32":
        return Check(
            "permissions",
            "ok",
            "Windows grants input hooks and screen capture to "
            "desktop applications of the logged-in user",
        )
    return Check(
        "permissions", "ok", "X11 grants input and screen access to clients of the display"
    )


def _macos_screen_access() -> bool | None:
    try:
        import Quartz

        return bool(Quartz.CGPreflightScreenCaptureAccess())
    except Exception:
        return None


def check_keyring(ctx: Context) -> Check:
    """Which OS keyring backend would hold the person's identity."""
    try:
        import keyring
        from keyring.backends import fail as fail_backend
    except ImportError:
        return Check(
            "keyring",
            "warn",
            "the keyring library is not installed: your identity stays in a 0600 file",
            "pip install keyring (and a Secret Service such as gnome-keyring or KWallet on Linux)",
        )
    try:
        backend = keyring.get_keyring()
    except Exception as exc:
        return Check(
            "keyring",
            "warn",
            f"no usable keyring backend ({exc})",
            "install and unlock a Secret Service (gnome-keyring, KWallet)",
        )
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, fail_backend.Keyring) or getattr(backend, "priority", 1) <= 0:
        return Check(
            "keyring",
            "warn",
            f"no OS keyring available ({name}): your identity stays in a 0600 file",
            "install and unlock a Secret Service "
            "(gnome-keyring, KWallet) to keep it in the keyring",
        )
    return Check("keyring", "ok", f"backend {name}")


def check_home(ctx: Context) -> Check:
    """Folders are 0700 and key files 0600, owned by this user."""
    paths = ctx.paths
    if not paths.config_dir.is_dir():
        return Check(
            "home", "fail", f"{paths.config_dir} does not exist", "run `capture-agent init`"
        )
    if not hasattr(os, "getuid"):
        return Check("home", "ok", f"{paths.config_dir} exists (Windows: per-user ACLs)")
    uid = os.getuid()
    problems: list[str] = []
    folders = [
        p for p in (paths.config_dir, paths.keys_dir, paths.data_dir, paths.log_dir) if p.exists()
    ]
    files = [p for p in paths.keys_dir.glob("*") if p.is_file()] if paths.keys_dir.is_dir() else []
    files += [p for p in (paths.config_file, paths.consent_state) if p.is_file()]
    for path in [*folders, *files]:  # folders 0700, files 0600: nothing for group or others
        info = path.stat()
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid != uid:
            problems.append(f"{path} is owned by uid {info.st_uid}")
        elif mode & 0o077:
            problems.append(f"{path} is {mode:04o} (others can read it)")
    if problems:
        return Check(
            "home",
            "fail",
            "; ".join(problems),
            "chmod 700 the folders and 600 the files named, as their owner",
        )
    return Check(
        "home", "ok", f"{paths.config_dir}: {len(folders)} folders 0700, {len(files)} files 0600"
    )


def _data_dir(ctx: Context) -> Path:
    configured = getattr(getattr(ctx.config, "storage", None), "data_dir", None)
    return ctx.paths.with_data_dir(configured).data_dir


def check_disk(ctx: Context) -> Check:
    """Free space where chunks are written."""
    target = _data_dir(ctx)
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free = f"{usage.free / 1e9:.1f} GB free on the file system of {target}"
    if usage.free < DISK_FAIL_BYTES:
        return Check(
            "disk",
            "fail",
            free,
            "free space, or point storage.data_dir at a "
            "larger disk; capture stops before the disk fills",
        )
    if usage.free < DISK_WARN_BYTES:
        return Check("disk", "warn", free, "free some space soon")
    return Check("disk", "ok", free)


def check_clock(ctx: Context, probe_seconds: float = 0.2) -> Check:
    """The wall clock shows a sane year and does not jump against the monotonic clock."""
    wall0, mono0 = time.time(), time.monotonic()
    time.sleep(probe_seconds)
    wall1, mono1 = time.time(), time.monotonic()
    year = time.gmtime(wall1).tm_year
    if not SANE_YEARS[0] <= year < SANE_YEARS[1]:
        return Check(
            "clock",
            "fail",
            f"the wall clock says the year is {year}",
            "set the date and enable time synchronisation (timedatectl "
            "set-ntp true); chunk times, snoozes and policy leases depend on it",
        )
    drift = abs((wall1 - wall0) - (mono1 - mono0))
    if drift > CLOCK_JUMP_SECONDS:
        return Check(
            "clock",
            "warn",
            f"the wall clock jumped {drift:.1f} s during the check",
            "enable time synchronisation (NTP) so the clock is corrected gently",
        )
    return Check(
        "clock",
        "ok",
        time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(wall1))
        + ", steady against the monotonic clock",
    )


def check_policy(ctx: Context) -> Check:
    """The cached fleet policy verifies with the pinned key and its lease is current."""
    policy_config = getattr(ctx.config, "policy", None)
    location = getattr(policy_config, "location", None)
    if not location:
        return Check(
            "policy", "ok", "no fleet policy configured: only your own consent choices apply"
        )
    cache = ctx.paths.policy_cache
    if not cache.is_file():
        return Check(
            "policy",
            "warn",
            f"a policy is configured ({location}) but none was "
            "fetched yet: capture stays blocked until one is",
            "start the agent; check that the location is reachable",
        )
    from consent.policy import verify_policy

    try:
        policy = verify_policy(cache.read_bytes(), getattr(policy_config, "public_key", ""))
    except Exception as exc:
        return Check(
            "policy",
            "fail",
            f"the cached policy is not valid: {exc}",
            "check policy.public_key against your organisation's key",
        )
    now = time.time()
    left = policy.not_after_ts - now
    refresh = float(getattr(policy_config, "refresh_interval", 60.0))
    if left <= 0:
        return Check(
            "policy",
            "fail",
            f"the policy lease ended {-left / 60:.0f} minutes ago: "
            "capture is blocked (fail closed)",
            f"make sure {location} is reachable and serves a renewed policy",
        )
    if not policy.collect:
        return Check("policy", "warn", "the organisation paused collection (collect=false)")
    if left < 2 * refresh:
        return Check(
            "policy",
            "warn",
            f"the policy lease ends in {left:.0f} s",
            f"make sure {location} serves a renewed policy",
        )
    return Check("policy", "ok", f"valid, lease ends in {left / 3600:.1f} h")


def check_upload(ctx: Context, timeout: float = 3.0) -> Check:
    """Where sealed chunks go, and whether that place answers."""
    upload = getattr(ctx.config, "upload", None)
    transport = getattr(upload, "transport", None)
    target: Any = None
    if transport == "folder":
        target = getattr(upload, "folder", None)
    elif transport == "s3":
        region = getattr(upload, "region", None) or "us-east-1"
        target = getattr(upload, "endpoint_url", None) or f"https://s3.{region}.amazonaws.com"
    elif transport in (None, "") and upload is not None:
        for key in ("endpoint_url", "url", "folder"):
            target = getattr(upload, key, None)
            if target:
                break
    if not target:
        return Check("upload", "ok", "not configured: chunks stay on this machine")
    text = str(target)
    parsed = urllib.parse.urlparse(text)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname, port), timeout=timeout):
                pass
        except OSError as exc:
            return Check(
                "upload",
                "warn",
                f"{parsed.hostname}:{port} does not answer "
                f"({exc.strerror or exc}); chunks wait on this machine",
                "check the network, proxy or VPN",
            )
        return Check("upload", "ok", f"{parsed.hostname}:{port} answers")
    if parsed.scheme in ("", "file"):
        folder = Path(parsed.path if parsed.scheme else text).expanduser()
        if folder.is_dir() and os.access(folder, os.W_OK):
            return Check("upload", "ok", f"{folder} is writable")
        return Check(
            "upload",
            "warn",
            f"{folder} is not a writable folder",
            "mount the share or fix the upload folder in config.toml",
        )
    return Check(
        "upload", "ok", f"configured ({parsed.scheme}); reachability is checked by the uploader"
    )


def check_ocr(ctx: Context) -> Check:
    """The screen scrub's OCR engine starts and reads (without it no frame is stored)."""
    from capture.backends import choose, load
    from capture.errors import CaptureError
    from capture.ocr.base import OcrUnavailable

    try:
        row = choose("ocr", ctx.environ, ctx.platform)
        engine = load("ocr", ctx.environ, ctx.platform)()
    except OcrUnavailable as exc:
        return Check("ocr", "fail", _NO_FRAMES + exc.reason, exc.fix or None)
    except CaptureError as exc:  # a module missing, or a bad CAPTURE_AGENT_BACKEND_OCR
        return Check("ocr", "fail", _NO_FRAMES + str(exc), _OCR_FIX)
    except Exception as exc:
        return Check("ocr", "fail", _NO_FRAMES + type(exc).__name__, _OCR_FIX)
    try:
        from PIL import Image

        engine.read(Image.new("L", (64, 24), 255))  # a blank strip: it must answer
    except Exception as exc:
        detail = exc.reason if isinstance(exc, OcrUnavailable) else type(exc).__name__
        return Check("ocr", "fail", _NO_FRAMES + f"{engine.version} fails ({detail})", _OCR_FIX)
    finally:
        engine.close()
    # Without a readable configuration, `run` would not start; its default is checked.
    if ctx.config is None or ctx.config.capture.screen.ocr_process == "inline":
        return Check("ocr", "ok", f"{engine.version} ({row.name}) reads the screen for the scrub")
    # As `run` uses it: in a worker process of its own (capture.ocr.process).
    from capture.ocr.process import ProcessOcr

    try:
        worker = ProcessOcr()
        try:
            worker.read(Image.new("L", (64, 24), 255))
        finally:
            worker.close()
    except OcrUnavailable as exc:
        return Check("ocr", "fail", _NO_FRAMES + f"its worker process fails ({exc})", _WORKER_FIX)
    return Check(
        "ocr",
        "ok",
        f"{engine.version} ({row.name}) reads the screen for the scrub, in its worker process",
    )


_NO_FRAMES = "no screen frame is stored (each is withheld) until OCR works: "
_WORKER_FIX = (
    "reinstall capture-agent (python -m capture.ocr.worker must run with this Python); "
    'or set [capture.screen] ocr_process = "inline" in config.toml'
)
_OCR_FIX = (
    "Debian/Ubuntu: sudo apt-get install tesseract-ocr, and reinstall capture-agent "
    "(it brings tesserocr); or run `make run`"
)


PAGE_SIGNATURES = (
    b'<meta name="generator" content="capture-agent view">',
    b"<title>capture-agent session ",
)
"""What marks a page `view` rendered (the second: pages of older versions)."""
STRAY_PATTERNS = ("view-*.html",)
"""Names older versions of `view` wrote decrypted pages under, never deleted."""


def stray_decrypted_files(paths: Paths, environ: Mapping[str, str]) -> list[Path]:
    """Pages of decrypted recordings left by older versions of `view` (or a copy of one)
    in the home, the agent's folders or the temp folder: regular files of this user whose
    first bytes carry `view`'s signature. Never follows a link."""
    folders = {paths.config_dir, paths.data_dir, paths.runtime_dir}
    for name in ("HOME", "TMPDIR", "XDG_RUNTIME_DIR"):
        if environ.get(name):
            folders.add(Path(environ[name]))
    folders.add(Path(tempfile.gettempdir()))
    found: list[Path] = []
    for folder in sorted(folders):
        for pattern in STRAY_PATTERNS:
            try:
                candidates = sorted(folder.glob(pattern))
            except OSError:
                continue
            for path in candidates:
                if _is_our_page(path):
                    found.append(path)
    return found


def _is_our_page(path: Path) -> bool:
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            return False
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return any(signature in head for signature in PAGE_SIGNATURES)


def delete_stray_decrypted(paths: Paths, environ: Mapping[str, str]) -> list[Path]:
    """Delete what :func:`stray_decrypted_files` finds; the files deleted."""
    deleted: list[Path] = []
    for path in stray_decrypted_files(paths, environ):
        try:
            path.unlink()
        except OSError:
            continue
        deleted.append(path)
    return deleted


def check_decrypted(ctx: Context) -> Check:
    """No decrypted recording is left on disk (pages older versions of `view` wrote)."""
    found = stray_decrypted_files(ctx.paths, ctx.environ)
    if not found:
        return Check("decrypted", "ok", "no decrypted page of a recording left on disk")
    shown = ", ".join(str(p) for p in found[:3]) + (", ..." if len(found) > 3 else "")
    return Check(
        "decrypted",
        "warn",
        f"{len(found)} decrypted page(s) of your recordings left on disk: {shown}",
        "delete them: `capture-agent doctor --fix`",
    )


def check_agent(ctx: Context) -> Check:
    """Whether the daemon runs, and any error it reports about itself."""
    from agent.errors import AgentError
    from agent.runtime.control import request
    from agent.runtime.status import BadStatus, read_daemon_status

    try:
        status = read_daemon_status(request(ctx.paths.socket_path, "status"))
    except BadStatus as exc:  # an agent of another version, or not ours, on the socket
        return Check("agent", "fail", str(exc), "restart the agent: `capture-agent run`")
    except AgentError:
        return Check(
            "agent",
            "warn",
            "the agent is not running",
            "start it: `capture-agent run`, or `capture-agent service install`",
        )
    except Exception as exc:
        return Check("agent", "warn", f"the agent does not answer ({exc})", "restart it")
    reasons = [r for r in (status.capture_error, status.storage_error) if r]
    reasons += status.health
    if reasons or status.state == "error":
        return Check(
            "agent",
            "fail",
            f"running, state {status.state}: " + "; ".join(reasons or ["error"]),
            "see `capture-agent status` and the log",
        )
    return Check("agent", "ok", f"running (pid {status.pid}), state {status.state}")


def check_browser_extension(ctx: Context) -> Check:
    """Whether each browser has the tab reporter extension and its host (issue 19)."""
    from agent.setup.browser_host import extension_state

    home = Path(ctx.environ.get("HOME") or Path.home())
    state = extension_state(home)
    if not state.browsers:
        return Check("browser extension", "ok", "no browser profile found for this user")
    missing = sorted(set(state.extension_missing) | set(state.host_missing))
    if not missing:
        return Check("browser extension", "ok", "installed in " + ", ".join(state.browsers))
    return Check(
        "browser extension",
        "warn",
        f"missing in {', '.join(missing)}: sites are judged by window titles only",
        "run `capture-agent privacy browser-host install` and install the extension "
        "(browser/extension/, or by policy: docs/DEPLOY.md)",
    )


CHECKS: list[Callable[[Context], Check]] = [
    check_config,
    check_display,
    check_permissions,
    check_keyring,
    check_home,
    check_disk,
    check_clock,
    check_policy,
    check_upload,
    check_ocr,
    check_decrypted,
    check_browser_extension,
    check_agent,
]


def run_checks(
    paths: Paths, environ: Mapping[str, str] | None = None, platform: str | None = None
) -> list[Check]:
    """Every check, in order; a check that raises is reported as failed, never propagated."""
    from agent.config import load_config
    from agent.errors import AgentError

    config: Config | None = None
    config_error: str | None = None
    try:
        config = load_config(paths.config_file)
    except AgentError as exc:
        config_error = str(exc)
    ctx = Context(
        paths=paths,
        config=config,
        config_error=config_error,
        environ=os.environ if environ is None else environ,
        platform=platform or sys.platform,
    )
    results: list[Check] = []
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        try:
            results.append(check(ctx))
        except Exception as exc:
            results.append(
                Check(
                    name,
                    "fail",
                    f"the check itself failed: {type(exc).__name__}: {exc}",
                    "report this; the rest of the checks still ran",
                )
            )
    return results
