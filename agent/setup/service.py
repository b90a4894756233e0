"""Running the agent at login: a systemd user unit, a LaunchAgent, or a logon task.

The service restarts the agent after a crash and never otherwise. Restarting is safe
for the person's choices because `capture-agent run` reads the persisted consent state
before it captures anything: a person who paused stays paused (until the snooze ends),
a person who opted out or never opted in stays unrecorded. A clean stop (SIGTERM,
`systemctl --user stop`, logout) is not a failure and is not restarted. Configuration
errors (exit 78) and a second instance (exit 75) are not retried either.

``describe`` builds what would be installed (pure: no file or process is touched);
``install``, ``uninstall`` and ``status`` act on the system. ``--dry-run`` prints the
text of ``describe``.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from agent.errors import AgentError
from agent.paths import HOME_ENV

UNIT_NAME = "capture-agent.service"
LAUNCHD_LABEL = "org.capture-agent.agent"
TASK_NAME = "capture-agent"
# Seconds between a crash and the restart; a crash loop is throttled further by
# StartLimitBurst restarts per StartLimitIntervalSec (systemd) or ThrottleInterval (launchd).
RESTART_SEC = 10
# Exit codes that a restart cannot fix: another instance runs (75), config invalid (78).
NO_RESTART_CODES = (75, 78)

PLATFORMS = ("linux", "darwin", "win32")
DESCRIPTION = (
    "capture-agent: records input and screen for computer-use AI, with your "
    "consent. Restarted after a failure only; consent is read from the persisted "
    "state at every start."
)


class ServiceError(AgentError):
    """The service could not be installed, removed or queried."""


@dataclass(frozen=True)
class ServiceSpec:
    """What `service install` writes, and the commands that activate it."""

    platform: str
    path: Path
    text: str
    activate: list[list[str]] = field(default_factory=list)
    deactivate: list[list[str]] = field(default_factory=list)
    encoding: str = "utf-8"


def current_platform() -> str:
    """'linux', 'darwin' or 'win32' for this machine."""
    if sys.platform.startswith("linux"):
        return "linux"
    return sys.platform


def agent_command() -> list[str]:
    """The absolute command that starts the installed agent (without `run`).

    Prefers the `capture-agent` console script installed next to this Python (a venv's
    bin folder), then one on PATH, then this Python running the module.
    """
    bindir = Path(sys.executable).parent
    for name in ("capture-agent", "capture-agent.exe"):
        candidate = bindir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate.absolute())]
    found = shutil.which("capture-agent")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "agent.cli.main"]


def _systemd_quote(arg: str) -> str:
    # systemd's ExecStart splits on whitespace and honours double quotes and backslashes;
    # '%' starts a specifier and '$' an environment variable, both doubled to be literal.
    text = arg.replace("%", "%%").replace("$", "$$")
    if text and not any(c in text for c in " \t\"\\'\n"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(command: Sequence[str], home: str | None) -> str:
    """The text of the systemd user unit."""
    exec_start = " ".join(_systemd_quote(a) for a in [*command, "run"])
    env = f"Environment={_systemd_quote(f'{HOME_ENV}={home}')}\n" if home else ""
    no_restart = " ".join(str(c) for c in NO_RESTART_CODES)
    return f"""\
# Installed by `capture-agent service install`; `capture-agent service uninstall` removes it.
# Restart=on-failure restarts the agent after a crash only. That never overrides the
# person's choice: `capture-agent run` reads the persisted consent state (paused, opted
# out, never opted in) before capturing anything. A clean stop is not restarted.
[Unit]
Description=capture-agent: records input and screen for computer-use AI, with your consent
After=graphical-session.target
PartOf=graphical-session.target
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=simple
ExecStart={exec_start}
{env}Restart=on-failure
RestartSec={RESTART_SEC}
RestartPreventExitStatus={no_restart}
KillSignal=SIGTERM
TimeoutStopSec=30

[Install]
WantedBy=graphical-session.target
"""


def launchd_plist(command: Sequence[str], home: str | None, log_dir: Path) -> str:
    """The text of the macOS LaunchAgent property list."""
    body: dict[str, object] = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [*command, "run"],
        "RunAtLoad": True,
        # Restart only when the agent did not exit successfully (a crash or a signal);
        # consent is read from the persisted state at every start.
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": RESTART_SEC,
        "ProcessType": "Interactive",
        "StandardOutPath": str(log_dir / "launchd.out.log"),
        "StandardErrorPath": str(log_dir / "launchd.err.log"),
    }
    if home:
        body["EnvironmentVariables"] = {HOME_ENV: home}
    return plistlib.dumps(body, sort_keys=False).decode("utf-8")


def _windows_quote(arg: str) -> str:
    return f'"{arg}"' if any(c in arg for c in ' \t"&|<>^') else arg


def schtasks_xml(command: Sequence[str], home: str | None, user: str) -> str:
    """The Task Scheduler XML of a task that starts the agent at the person's logon."""
    if home:
        # A task cannot carry environment variables; cmd sets the home for the agent.
        inner = " ".join(_windows_quote(a) for a in [*command, "run"])
        program = "cmd.exe"
        arguments = f'/d /c "set "{HOME_ENV}={home}" && {inner}"'
    else:
        program = command[0]
        arguments = " ".join(_windows_quote(a) for a in [*command[1:], "run"])
    e = xml_escape
    return f"""\
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{DESCRIPTION}</Description>
    <URI>\\{TASK_NAME}</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>{e(user)}</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{e(user)}</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>5</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{e(program)}</Command>
      <Arguments>{e(arguments)}</Arguments>
    </Exec>
  </Actions>
</Task>
"""


def _user_config_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME")
    return Path(base) if base else Path(environ.get("HOME") or Path.home()) / ".config"


def describe(
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
    command: Sequence[str] | None = None,
    log_dir: Path | None = None,
) -> ServiceSpec:
    """What would be installed on ``platform`` (default: this one); touches nothing."""
    env = os.environ if environ is None else environ
    platform = platform or current_platform()
    command = list(command) if command is not None else agent_command()
    home_value = env.get(HOME_ENV)
    home = str(Path(home_value).expanduser().absolute()) if home_value else None
    user_home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform == "linux":
        path = _user_config_dir(env) / "systemd" / "user" / UNIT_NAME
        return ServiceSpec(
            platform,
            path,
            systemd_unit(command, home),
            activate=[
                ["systemctl", "--user", "daemon-reload"],
                ["systemctl", "--user", "enable", "--now", UNIT_NAME],
            ],
            deactivate=[["systemctl", "--user", "disable", "--now", UNIT_NAME]],
        )
    if platform == "darwin":
        path = user_home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        logs = log_dir or user_home / "Library" / "Logs" / "capture-agent"
        domain = f"gui/{os.getuid() if hasattr(os, 'getuid') else 0}"
        return ServiceSpec(
            platform,
            path,
            launchd_plist(command, home, logs),
            activate=[["launchctl", "bootstrap", domain, str(path)]],
            deactivate=[["launchctl", "bootout", f"{domain}/{LAUNCHD_LABEL}"]],
        )
    if platform == "win32":
        appdata = Path(env.get("APPDATA") or user_home / "AppData" / "Roaming")
        path = appdata / "capture-agent" / "capture-agent-task.xml"
        user = (
            env.get("USERDOMAIN", "")
            + ("\\" if env.get("USERDOMAIN") else "")
            + (env.get("USERNAME") or env.get("USER") or "")
        )
        return ServiceSpec(
            platform,
            path,
            schtasks_xml(command, home, user),
            activate=[["schtasks", "/Create", "/TN", TASK_NAME, "/XML", str(path), "/F"]],
            deactivate=[["schtasks", "/Delete", "/TN", TASK_NAME, "/F"]],
            encoding="utf-16",
        )
    raise ServiceError(
        f"no service support for platform {platform!r} (supported: {', '.join(PLATFORMS)})"
    )


def _run(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str] | None:
    """Run a system tool; None when it is not installed."""
    if shutil.which(args[0]) is None:
        return None
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def manager_reachable(spec: ServiceSpec) -> bool:
    """True when the service manager (systemd user instance, launchd, schtasks) answers."""
    probe = {
        "linux": ["systemctl", "--user", "show-environment"],
        "darwin": ["launchctl", "print", f"gui/{os.getuid() if hasattr(os, 'getuid') else 0}"],
        "win32": ["schtasks", "/Query", "/TN", "\\"],
    }[spec.platform]
    done = _run(probe, timeout=10)
    return done is not None and done.returncode == 0


def _commands_text(commands: list[list[str]]) -> str:
    return " && ".join(shlex.join(c) for c in commands)


@dataclass(frozen=True)
class Outcome:
    """What an install or uninstall did, as lines for the person."""

    lines: list[str]


def display_hint(user_environment: str | None) -> str | None:
    """A note when the systemd user manager's environment lacks DISPLAY, else None.

    ``user_environment`` is what `systemctl --user show-environment` printed (None when
    it could not be asked). Desktop sessions (GNOME, KDE, Xfce) import DISPLAY into the
    user manager at login; a plain window manager's session often does not, and the
    service then starts without a display and fails until it is imported.
    """
    if user_environment is None:
        return None
    names = {line.split("=", 1)[0] for line in user_environment.splitlines() if "=" in line}
    if "DISPLAY" in names:
        return None
    return (
        "note: the systemd user manager has no DISPLAY yet, so the agent cannot reach "
        "the screen from the service; desktop sessions set it at login, otherwise add "
        "`systemctl --user import-environment DISPLAY XAUTHORITY` to your session's "
        "start (e.g. ~/.xsession or your window manager's autostart)"
    )


def install(spec: ServiceSpec) -> Outcome:
    """Write the unit/plist/task file and activate it when the service manager answers."""
    try:
        spec.path.parent.mkdir(parents=True, exist_ok=True)
        spec.path.write_text(spec.text, encoding=spec.encoding)
    except OSError as exc:
        raise ServiceError(f"cannot write {spec.path}: {exc.strerror or exc}") from None
    lines = [f"wrote {spec.path}"]
    if spec.platform == current_platform() and manager_reachable(spec):
        for command in spec.activate:
            done = _run(command)
            if done is None:
                raise ServiceError(f"`{command[0]}` is not installed")
            if done.returncode != 0:
                why = done.stderr.strip() or f"exit {done.returncode}"
                raise ServiceError(f"`{shlex.join(command)}` failed: {why}")
        lines.append(f"enabled and started: {_commands_text(spec.activate)}")
        if spec.platform == "linux":
            shown = _run(["systemctl", "--user", "show-environment"])
            hint = display_hint(shown.stdout if shown and shown.returncode == 0 else None)
            if hint:
                lines.append(hint)
    else:
        lines.append(
            "the service manager is not reachable from here (no user session?); "
            f"to start the agent at login, run: {_commands_text(spec.activate)}"
        )
    return Outcome(lines)


def uninstall(spec: ServiceSpec) -> Outcome:
    """Deactivate (when the manager answers) and remove the unit/plist/task file."""
    lines: list[str] = []
    reachable = spec.platform == current_platform() and manager_reachable(spec)
    if reachable:
        for command in spec.deactivate:
            _run(command)  # not installed in the manager: nothing to undo
        lines.append(f"stopped and disabled: {_commands_text(spec.deactivate)}")
    try:
        spec.path.unlink()
        lines.append(f"removed {spec.path}")
    except FileNotFoundError:
        lines.append(f"nothing installed at {spec.path}")
    except OSError as exc:
        raise ServiceError(f"cannot remove {spec.path}: {exc.strerror or exc}") from None
    if reachable and spec.platform == "linux":
        _run(["systemctl", "--user", "daemon-reload"])
    elif not reachable:
        lines.append(
            "the service manager is not reachable from here; if the agent was "
            f"enabled, run: {_commands_text(spec.deactivate)}"
        )
    return Outcome(lines)


def status(spec: ServiceSpec) -> dict[str, object]:
    """Installed or not, up to date or not, and what the service manager says."""
    installed = spec.path.is_file()
    current = False
    if installed:
        try:
            current = spec.path.read_text(encoding=spec.encoding) == spec.text
        except (OSError, UnicodeError):
            current = False
    result: dict[str, object] = {
        "platform": spec.platform,
        "path": str(spec.path),
        "installed": installed,
        "up_to_date": current,
        "manager_reachable": False,
        "enabled": None,
        "active": None,
    }
    if spec.platform != current_platform() or not manager_reachable(spec):
        return result
    result["manager_reachable"] = True
    if spec.platform == "linux":
        enabled = _run(["systemctl", "--user", "is-enabled", UNIT_NAME])
        active = _run(["systemctl", "--user", "is-active", UNIT_NAME])
        result["enabled"] = enabled.stdout.strip() if enabled else None
        result["active"] = active.stdout.strip() if active else None
    elif spec.platform == "darwin":
        uid = os.getuid() if hasattr(os, "getuid") else 0
        done = _run(["launchctl", "print", f"gui/{uid}/{LAUNCHD_LABEL}"])
        result["enabled"] = done is not None and done.returncode == 0
    else:
        done = _run(["schtasks", "/Query", "/TN", TASK_NAME])
        result["enabled"] = done is not None and done.returncode == 0
    return result
