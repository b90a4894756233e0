"""`capture-agent doctor`: each check finds what is wrong and says how to fix it."""

from __future__ import annotations

import json
import socket
import time
import types
from pathlib import Path
from typing import Any

import pytest

from agent.paths import resolve_paths
from agent.setup import doctor
from agent.setup.doctor import Check, Context, run_checks
from consent.policy import generate_policy_keypair, sign_policy
from tests.cli_helpers import run_cli

NO_DISPLAY: dict[str, Any] = {"DISPLAY": None, "WAYLAND_DISPLAY": None, "XDG_SESSION_TYPE": None}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    return home


def checks_of(done: Any) -> dict[str, dict[str, Any]]:
    body = json.loads(done.stdout)
    assert body["ok"] is (done.returncode == 0)
    result = {c["name"]: c for c in body["checks"]}
    for check in result.values():
        assert check["status"] in ("ok", "warn", "fail")
        assert check["detail"]
        if check["status"] != "ok":
            assert check["fix"], check
    return result


def test_every_check_reports_and_a_missing_display_fails(home: Path) -> None:
    done = run_cli(home, "doctor", "--json", **NO_DISPLAY)
    assert done.returncode == 1, done.stderr
    checks = checks_of(done)
    assert list(checks) == [
        "config",
        "display",
        "permissions",
        "keyring",
        "home",
        "disk",
        "clock",
        "policy",
        "upload",
        "ocr",
        "decrypted",
        "browser extension",
        "agent",
    ]
    assert checks["ocr"]["status"] == "ok" and "tesseract" in checks["ocr"]["detail"]
    assert checks["display"]["status"] == "fail" and "DISPLAY" in checks["display"]["detail"]
    for name in ("config", "home", "clock", "disk", "permissions"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["upload"]["detail"].startswith("not configured")
    assert checks["policy"]["status"] == "ok" and "no fleet policy" in checks["policy"]["detail"]
    assert checks["keyring"]["status"] in ("ok", "warn")
    assert checks["agent"]["status"] == "warn" and "not running" in checks["agent"]["detail"]
    human = run_cli(home, "doctor", **NO_DISPLAY)
    assert human.returncode == 1
    assert "fail  display" in human.stdout and "fix: " in human.stdout
    assert "some checks FAILED" in human.stdout


def test_ocr_that_cannot_start_fails_with_the_fix(home: Path, tmp_path: Path) -> None:
    """Damaged language data: Tesseract does not start, so the agent would store no
    frame; doctor says so and what to install."""
    damaged = tmp_path / "tessdata"
    damaged.mkdir()
    (damaged / "eng.traineddata").write_bytes(b"\0garbage" * 512)
    done = run_cli(home, "doctor", "--json", TESSDATA_PREFIX=str(damaged), **NO_DISPLAY)
    check = checks_of(done)["ocr"]
    assert check["status"] == "fail", check
    assert "withheld" in check["detail"] and "Tesseract" in check["detail"]
    assert "apt-get install tesseract-ocr" in check["fix"]


def test_the_ocr_check_reads_as_run_would_inline_or_in_the_worker_process(home: Path) -> None:
    done = run_cli(home, "doctor", "--json", **NO_DISPLAY)
    check = checks_of(done)["ocr"]
    assert check["status"] == "ok" and "worker" not in check["detail"], check
    config = home / "config.toml"
    config.write_text(
        config.read_text().replace(
            "[capture.screen]\n", '[capture.screen]\nocr_process = "separate"\n'
        )
    )
    check = checks_of(run_cli(home, "doctor", "--json", **NO_DISPLAY))["ocr"]
    assert check["status"] == "ok" and "in its worker process" in check["detail"], check


def test_an_unknown_ocr_override_fails_and_no_override_turns_the_scrub_off(home: Path) -> None:
    for name in ("none", "fake", "off"):
        done = run_cli(home, "doctor", "--json", CAPTURE_AGENT_BACKEND_OCR=name, **NO_DISPLAY)
        check = checks_of(done)["ocr"]
        assert check["status"] == "fail" and "CAPTURE_AGENT_BACKEND_OCR" in check["detail"]


def test_wayland_is_explained(home: Path) -> None:
    done = run_cli(
        home,
        "doctor",
        "--json",
        DISPLAY=None,
        WAYLAND_DISPLAY="wayland-0",
        XDG_SESSION_TYPE="wayland",
    )
    display = checks_of(done)["display"]
    assert display["status"] == "fail"
    assert "Wayland blocks global input capture" in display["detail"]
    assert "X11" in display["fix"]


@pytest.mark.x11
def test_a_real_x_display_passes(home: Path, x_display: str) -> None:
    done = run_cli(
        home, "doctor", "--json", DISPLAY=x_display, WAYLAND_DISPLAY=None, XDG_SESSION_TYPE="x11"
    )
    checks = checks_of(done)
    assert checks["display"]["status"] == "ok" and x_display in checks["display"]["detail"]


def test_loose_permissions_and_a_missing_home_fail(home: Path, tmp_path: Path) -> None:
    key = home / "keys" / "person.agekey"
    key.chmod(0o644)
    checks = checks_of(run_cli(home, "doctor", "--json", **NO_DISPLAY))
    assert checks["home"]["status"] == "fail" and str(key) in checks["home"]["detail"]
    assert "chmod" in checks["home"]["fix"]

    missing = checks_of(run_cli(tmp_path / "nohome", "doctor", "--json", **NO_DISPLAY))
    assert missing["config"]["status"] == "fail"
    assert "capture-agent init" in missing["config"]["fix"] + missing["config"]["detail"]
    assert missing["home"]["status"] == "fail"


def _policy_doc(hours: float) -> dict[str, Any]:
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + hours * 3600))
    return {"version": 1, "collect": True, "not_after": iso}


def test_policy_freshness(home: Path) -> None:
    keys = generate_policy_keypair()
    config = home / "config.toml"
    assert "[policy]" not in config.read_text()
    with config.open("a") as handle:
        handle.write(f'\n[policy]\nlocation = "{home}/policy.json"\npublic_key = "{keys.public}"\n')
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(home)})

    def policy_check() -> Check:
        return next(c for c in run_checks(paths, environ={}) if c.name == "policy")

    assert policy_check().status == "warn"  # configured, never fetched
    paths.policy_cache.write_bytes(sign_policy(_policy_doc(hours=5), keys.private_pem))
    fresh = policy_check()
    assert fresh.status == "ok" and "lease ends in" in fresh.detail
    paths.policy_cache.write_bytes(sign_policy(_policy_doc(hours=-1), keys.private_pem))
    expired = policy_check()
    assert expired.status == "fail" and "lease ended" in expired.detail
    other = generate_policy_keypair()
    paths.policy_cache.write_bytes(sign_policy(_policy_doc(hours=5), other.private_pem))
    assert policy_check().status == "fail"


def _context(home: Path, config: Any = None) -> Context:
    return Context(
        paths=resolve_paths({"CAPTURE_AGENT_HOME": str(home)}),
        config=config,
        config_error=None,
        environ={},
        platform="linux",
    )


def test_a_clock_in_the_wrong_year_or_jumping_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fake_time(walls: list[float]) -> types.SimpleNamespace:
        values = iter(walls)
        monos = iter([100.0, 100.2])
        return types.SimpleNamespace(
            time=lambda: next(values),
            monotonic=lambda: next(monos),
            sleep=lambda _s: None,
            gmtime=time.gmtime,
            localtime=time.localtime,
            strftime=time.strftime,
        )

    ctx = _context(tmp_path)
    monkeypatch.setattr(doctor, "time", fake_time([631152000.0, 631152000.2]))  # 1990
    wrong = doctor.check_clock(ctx)
    assert wrong.status == "fail" and "1990" in wrong.detail and wrong.fix
    now = time.time()
    monkeypatch.setattr(doctor, "time", fake_time([now, now + 30.2]))
    jumped = doctor.check_clock(ctx)
    assert jumped.status == "warn" and "jumped 30.0 s" in jumped.detail
    monkeypatch.setattr(doctor, "time", fake_time([now, now + 0.2]))
    assert doctor.check_clock(ctx).status == "ok"


def test_upload_reachability(tmp_path: Path) -> None:
    def config_with(url: str) -> Any:
        return types.SimpleNamespace(upload=types.SimpleNamespace(endpoint_url=url))

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        up = doctor.check_upload(_context(tmp_path, config_with(f"http://127.0.0.1:{port}")))
        assert up.status == "ok" and f"127.0.0.1:{port} answers" in up.detail
    down = doctor.check_upload(
        _context(tmp_path, config_with(f"http://127.0.0.1:{port}")), timeout=1
    )
    assert down.status == "warn" and down.fix
    folder = doctor.check_upload(_context(tmp_path, config_with(str(tmp_path))))
    assert folder.status == "ok"
    assert doctor.check_upload(_context(tmp_path)).detail.startswith("not configured")
    none = types.SimpleNamespace(upload=types.SimpleNamespace(transport="none", folder=None))
    assert doctor.check_upload(_context(tmp_path, none)).detail.startswith("not configured")
    shared = types.SimpleNamespace(
        upload=types.SimpleNamespace(transport="folder", folder=str(tmp_path / "no"))
    )
    assert doctor.check_upload(_context(tmp_path, shared)).status == "warn"


def test_a_check_that_crashes_is_a_failure_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    def broken(_ctx: Context) -> Check:
        raise RuntimeError("boom")

    broken.__name__ = "check_broken"
    monkeypatch.setattr(doctor, "CHECKS", [broken])
    result = run_checks(resolve_paths({"CAPTURE_AGENT_HOME": str(home)}), environ={})
    assert result == [
        Check(
            "broken",
            "fail",
            "the check itself failed: RuntimeError: boom",
            "report this; the rest of the checks still ran",
        )
    ]
