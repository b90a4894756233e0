"""The status record: `status --json` keeps its key paths and values; bad replies are one line.

``STATUS_KEYS`` pins every key path of the JSON scripts read. A change to it must be
deliberate: add the new path here (agent/runtime/status.py says how to add a field).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.paths import resolve_paths
from agent.runtime.control import ControlServer, request
from agent.runtime.status import (
    BadStatus,
    ConsentStatus,
    DaemonStatus,
    OfflineStatus,
    read_status,
    status_json,
)
from tests.agent_status import consent_reply, daemon_reply
from tests.cli_helpers import run_cli

CONSENT_KEYS = {
    "consent.state",
    "consent.choice",
    "consent.mode",
    "consent.snooze_max_minutes",
    "consent.blocks",
    "consent.minutes_left",
    "consent.until",
    "consent.seconds_left",
    "consent.reason",
    "consent.state_error",
    "consent.policy",
    "consent.policy.location",
    "consent.policy.collect",
    "consent.policy.not_after",
    "consent.policy.max_sensitivity",
    "consent.policy.error",
}
STATUS_KEYS = CONSENT_KEYS | {
    "running",
    "pid",
    "state",
    "consent",
    "blocked_reason",
    "focus_denied",
    "capture_error",
    "storage_error",
    "health",
    "scope",
    "scope.keys",
    "scope.mouse",
    "scope.window",
    "scope.screen",
    "scope.min_frame_interval",
    "sources",
    "sources_running",
    "screen",
    "screen.frames",
    "screen.withheld",
    "screen.unchanged_skipped",
    "screen.grab_errors",
    "screen.masked",
    "screen.withheld_reasons",
    "screen.scrub_withheld",
    "screen.scrub_masked",
    "screen.scrub_engine",
    "screen.scrub_cpu_s",
    "screen.scrub_error",
    "screen.holds",
    "screen.holds_stored",
    "session",
    "started_ts",
    "uptime_s",
    "events_per_second",
    "events_processed",
    "events_stored",
    "events_filtered",
    "dropped",
    "dropped_total",
    "queue_length",
    "removed",
    "keys_redacted",
    "open_chunk_events",
    "chunks_sealed",
    "last_sealed_ts",
    "buffered_chunks",
    "buffered_bytes",
    "data_dir",
    "upload",
    "upload.transport",
    "upload.paused",
    "upload.uploaded_total",
    "upload.last_pass_ts",
    "upload.last_pass",
    "upload.last_pass.uploaded",
    "upload.last_pass.bytes",
    "upload.last_pass.failed",
    "upload.last_pass.held_back",
    "upload.last_pass.pending",
    "upload.last_pass.errors",
    "upload.last_error",
    "upload.next_pass_ts",
}
OFFLINE_KEYS = CONSENT_KEYS | {
    "running",
    "state",
    "consent",
    "buffered_chunks",
    "buffered_bytes",
    "data_dir",
    "scope",
    "scope.keys",
    "scope.mouse",
    "scope.window",
    "scope.screen",
    "scope.min_frame_interval",
}


def declared_paths(tp: Any, prefix: str = "") -> set[str]:
    """Every key path a record type can put in its JSON (dicts of counts are leaves)."""
    info = msgspec.inspect.type_info(tp)
    if not isinstance(info, msgspec.inspect.StructType):
        return set()
    out: set[str] = set()
    for f in info.fields:
        path = prefix + f.encode_name
        out.add(path)
        inner = f.type
        if isinstance(inner, msgspec.inspect.UnionType):
            for t in inner.types:
                if isinstance(t, msgspec.inspect.StructType):
                    out |= declared_paths(t.cls, path + ".")
        elif isinstance(inner, msgspec.inspect.StructType):
            out |= declared_paths(inner.cls, path + ".")
    return out


def test_the_json_key_paths_are_pinned() -> None:
    assert declared_paths(DaemonStatus) == STATUS_KEYS
    assert declared_paths(OfflineStatus) == OFFLINE_KEYS


def full_reply() -> dict[str, Any]:
    """A reply with every optional key present (a snooze, a policy, an uploader)."""
    return daemon_reply(
        state="snoozed",
        consent=consent_reply(
            "snoozed",
            minutes_left=4.2,
            until=1_000_252.5,
            seconds_left=252.0,
            reason="person",
            state_error="state file unreadable",
            blocks={"policy": "collect is false"},
            policy={
                "location": "https://example.org/policy.json",
                "collect": True,
                "not_after": 1_100_000.0,
                "max_sensitivity": 2,
                "error": None,
            },
        ),
        upload={
            "transport": "FolderTransport('/srv/x')",
            "paused": False,
            "uploaded_total": 7,
            "last_pass_ts": 1_000_500.0,
            "last_pass": {
                "uploaded": 2,
                "bytes": 4096,
                "failed": 0,
                "held_back": 1,
                "pending": 0,
                "errors": [],
            },
            "last_error": None,
            "next_pass_ts": 1_000_560.0,
        },
    )


@pytest.mark.parametrize(
    "reply",
    [
        daemon_reply(),
        full_reply(),
        {
            "running": False,
            "state": "not running",
            "consent": consent_reply("no_consent"),
            "buffered_chunks": 0,
            "buffered_bytes": 0,
            "data_dir": "/x/sessions",
        },
    ],
    ids=["plain", "every optional key", "offline"],
)
def test_decoding_and_encoding_again_gives_the_same_json_bytes(reply: dict[str, Any]) -> None:
    # What the daemon sent is what `status --json` prints: keys, values, order, indent.
    assert status_json(read_status(reply)) == json.dumps(reply, indent=2, sort_keys=True)


def test_an_unset_key_is_left_out_not_null() -> None:
    plain = json.loads(status_json(read_status(daemon_reply())))
    assert "until" not in plain["consent"] and "policy" not in plain["consent"]


@pytest.fixture
def served() -> Iterator[Path]:
    """A real control socket whose `status` answers with the daemon's record."""
    base = Path(tempfile.mkdtemp(prefix="ca-st-", dir="/tmp"))
    record = read_status(full_reply())
    server = ControlServer(base / "c.sock", {"status": lambda _a: record})
    server.start()
    try:
        yield base / "c.sock"
    finally:
        server.stop()
        base.rmdir()


def test_the_record_crosses_the_socket_unchanged(served: Path) -> None:
    got = read_status(request(served, "status"))
    assert got == read_status(full_reply())
    assert status_json(got) == json.dumps(full_reply(), indent=2, sort_keys=True)


ATTACKS = [
    ("a list", [1, 2], "not an object"),
    ("running a string", {**daemon_reply(), "running": "yes"}, "`running` must be"),
    (
        "an old daemon without health",
        {k: v for k, v in daemon_reply().items() if k != "health"},
        "missing required field `health`",
    ),
    ("pid a float", {**daemon_reply(), "pid": 1.5}, "$.pid"),
    ("bool for a count", {**daemon_reply(), "events_stored": True}, "$.events_stored"),
    ("nested consent wrong", {**daemon_reply(), "consent": {"state": 1}}, "$.consent"),
    ("dropped not counts", {**daemon_reply(), "dropped": {"x": "many"}}, "$.dropped"),
    ("screen a list", {**daemon_reply(), "screen": [1, 2, 3, 4]}, "$.screen"),
]


@pytest.mark.parametrize(("raw", "says"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_a_reply_that_is_not_a_status_is_one_line(raw: object, says: str) -> None:
    with pytest.raises(BadStatus) as caught:
        read_status(raw)
    message = str(caught.value)
    assert says in message and "\n" not in message and caught.value.exit_code == 1


def test_consent_status_unset_fields_read_as_none() -> None:
    consent = msgspec.convert(consent_reply(), ConsentStatus)
    assert consent.reason_or_none is None and consent.until_or_none is None


HOSTILE = [
    ("status", {**daemon_reply(), "pid": "4242"}, "$.pid"),
    ("status --json", {k: v for k, v in daemon_reply().items() if k != "consent"}, "consent"),
    ("pause --minutes 5", {"consent": consent_reply("snoozed")}, "`running` must be"),
    ("opt-in --json", {**daemon_reply(), "running": False, "state": 7}, "$.state"),
]


@pytest.mark.parametrize(("command", "reply", "says"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_the_cli_believes_no_malformed_reply_on_the_socket(
    command: str, reply: dict[str, Any], says: str
) -> None:
    # A process squatting the home's control socket answers every command with something
    # that is not a status: the CLI says so in one line (exit 1), never a traceback, and
    # prints nothing of what it was sent.
    base = Path(tempfile.mkdtemp(prefix="ca-hs-", dir="/tmp"))
    home = base / "home"
    assert run_cli(home, "init").returncode == 0
    socket = resolve_paths({"CAPTURE_AGENT_HOME": str(home)}).socket_path
    handlers = {cmd: (lambda _a: reply) for cmd in ("status", "pause", "opt_in")}
    server = ControlServer(socket, handlers)
    server.start()
    try:
        done = run_cli(home, *command.split())
    finally:
        server.stop()
        shutil.rmtree(base)
    err = done.stderr.strip()
    assert done.returncode == 1 and done.stdout == "", (done.stdout, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("capture-agent: error: the agent sent a malformed status")
    assert says in err
