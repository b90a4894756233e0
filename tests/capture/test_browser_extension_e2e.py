"""The tab reporter extension in a real Chromium and a real Firefox, end to end (issue 19).

The browser runs on the test X server with browser/extension/ loaded; a small site is
served on loopback and reached as www.gov.uk (Chromium's resolver rules, Firefox's
``network.dns.forceResolve``), so the shipped taxonomy's path rules apply as they would
on the real site. The real agent records: the window of /bank-holidays is stored with
its site only (no path, no query string), the window of /universal-credit is never
stored (its title is neutral: only its URL can stop it), and a "suppressed" marker
accounts for the gap.

Firefox takes the extension as an unsigned add-on in its profile, which Firefox ESR
allows with ``xpinstall.signatures.required`` off (release Firefox does not: an
organisation deploys a signed copy by policy, docs/DEPLOY.md), and finds the host
through ``~/.mozilla/native-messaging-hosts``, written by `browser-host install`.
"""

from __future__ import annotations

import datetime
import http.server
import json
import shutil
import ssl
import subprocess
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.agent_status import running_status
from tests.cli_helpers import (
    ROOT,
    recording_home,
    run_cli,
    start_agent,
    stop_agent,
    wait_until_running,
)
from tests.waiting import wait_for
from tests.xserver import XServer

pytestmark = pytest.mark.x11

EXTENSION = ROOT / "browser" / "extension"
PAGES = {
    "/bank-holidays": "Quiet page one",
    "/universal-credit": "Quiet page two",
}


# A key pressed on a page opens the other one (n: the benefits page, b: back), so a test
# can move between them with one key press instead of typing an address.
_KEYS = (
    "<script>addEventListener('keydown', (e) => {"
    " const to = {n: '/universal-credit', b: '/bank-holidays?ref=query-never-stored'}[e.key];"
    " if (to) location.href = to; });</script>"
)


class _Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        title = PAGES.get(self.path.split("?")[0])
        body = (
            f"<!doctype html><title>{title}</title><p>{title}</p>{_KEYS}" if title else ""
        ).encode()
        self.send_response(200 if title else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for www.gov.uk (HSTS-preloaded: https only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.gov.uk")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.gov.uk")]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "site.crt", folder / "site.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _serve(server: http.server.ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[int]:
    """The site over https (Chromium keeps www.gov.uk's HSTS preload)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_certificate(tmp_path))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


@pytest.fixture
def plain_site() -> Iterator[int]:
    """The site over plain http (the Firefox profile turns the HSTS preload list off)."""
    yield from _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site))


def _install_host(home: Path, *args: str, user_home: Path | None = None) -> tuple[Path, list[Path]]:
    """`privacy browser-host install ARGS --json` (with HOME=``user_home`` if given): the
    agent socket its launcher names, and the host manifests it wrote."""
    command = ("privacy", "browser-host", "install", *args, "--json")
    if user_home is None:
        done = run_cli(home, *command)
    else:
        done = run_cli(home, *command, HOME=str(user_home))
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    launcher = Path(written["launcher"]).read_text()
    sock = Path(launcher.split("--socket ")[1].split()[0])
    return sock, [Path(m) for m in written["manifests"]]


def _host_running(sock: Path) -> bool:
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if "capture.window.browser_host" in cmd and str(sock) in cmd:
            return True
    return False


def _window(server: XServer, title: str, timeout: float = 60) -> str:
    """The id of the window titled ``title`` (polled: see XServer.window_named)."""
    return server.window_named(f"^{title}", timeout=timeout)


def _go(server: XServer, window: str, url: str, title: str) -> None:
    """Type ``url`` into the address bar until the page titled ``title`` shows.

    A browser busy starting up can drop typed keys (Firefox once got ".go" of a whole
    URL): the next try selects the address bar's text again and types it anew."""

    def act() -> None:
        server.run("xdotool", "windowactivate", "--sync", window)
        server.run("xdotool", "key", "--window", window, "ctrl+l")
        server.run("xdotool", "type", "--delay", "20", url)
        server.run("xdotool", "key", "--window", window, "Return")

    _until_shown(server, title, act)


def _until_shown(server: XServer, title: str, act: Callable[[], None]) -> None:
    """Do ``act`` until the page titled ``title`` shows, three tries at most (the third
    waits longest): a browser can drop what it is sent while it starts up."""
    for attempt in range(3):
        act()
        try:
            _window(server, title, timeout=20 if attempt < 2 else 60)
            return
        except AssertionError:
            if attempt == 2:
                raise


def _denied(home: Path) -> bool | None:
    now = running_status(home)
    return None if now is None else bool(now.get("focus_denied"))


def _close(browser: subprocess.Popen[bytes] | None) -> None:
    """Stop a browser this test started: the X server is shared by the session, and a
    window left showing the same page title would be found by the next test."""
    if browser is None:
        return
    browser.terminate()
    try:
        browser.wait(timeout=30)
    except subprocess.TimeoutExpired:
        browser.kill()
        browser.wait(timeout=30)


def _press(server: XServer, window: str, key: str, title: str) -> None:
    """Press ``key`` on the page (its script opens the other page) until the page titled
    ``title`` shows; a click on the page first gives it the keyboard."""

    def act() -> None:
        server.run("xdotool", "windowactivate", "--sync", window)
        server.run("xdotool", "mousemove", "--window", window, "200", "300", "click", "1")
        server.run("xdotool", "key", "--clearmodifiers", key)

    _until_shown(server, title, act)


def _browse_benefits_and_back(
    x_server: XServer, home: Path, sock: Path, base: str, typed: bool = True
) -> None:
    """With the agent recording: open the benefits page in the browser showing
    /bank-holidays (typing its address, or with a key the page handles), wait until the
    agent denies it, go back, wait until it records."""
    window = _window(x_server, PAGES["/bank-holidays"])
    wait_for(lambda: _host_running(sock), "the extension to start its host", timeout=60)
    if typed:
        _go(x_server, window, f"{base}/universal-credit", PAGES["/universal-credit"])
    else:
        _press(x_server, window, "n", PAGES["/universal-credit"])
    wait_for(lambda: _denied(home) is True, "the agent to deny the benefits page", timeout=60)
    if typed:
        back = f"{base}/bank-holidays?ref=query-never-stored"
        _go(x_server, window, back, PAGES["/bank-holidays"])
    else:
        _press(x_server, window, "b", PAGES["/bank-holidays"])
    wait_for(lambda: _denied(home) is False, "the agent to record again", timeout=60)


def _check_export(home: Path, site_url: str) -> None:
    """The bank-holidays window is stored with its site only; nothing of the benefits
    page, and no query string, is stored; a marker accounts for the gap."""
    exported = run_cli(home, "export")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    windows = [r for r in records if r["type"] == "window"]
    ones = [w for w in windows if w["title"].startswith(PAGES["/bank-holidays"])]
    assert ones, [w["title"] for w in windows]
    assert ones[-1]["url"] == site_url
    assert {w.get("url") for w in ones} <= {None, site_url}
    for secret in (PAGES["/universal-credit"], "universal-credit", "query-never-stored"):
        assert secret not in exported.stdout
    assert any(r["type"] == "marker" and r["kind"] == "suppressed" for r in records)


def test_focused_tab_url_reaches_window_events_and_the_denylist(
    x_server: XServer, tmp_path: Path, site: int
) -> None:
    browser = shutil.which("chromium")
    assert browser, "chromium is not installed (make system-test-deps)"
    home = recording_home(tmp_path)
    profile = tmp_path / "chromium-profile"
    sock, _ = _install_host(home, "--dir", str(profile))
    agent = start_agent(home, DISPLAY=x_server.display)
    chromium = None
    try:
        wait_until_running(home, agent)
        chromium = x_server.spawn(
            browser,
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--no-sandbox",
            "--disable-gpu",
            "--password-store=basic",
            "--disable-sync",
            f"--disable-extensions-except={EXTENSION}",
            f"--load-extension={EXTENSION}",
            f"--host-resolver-rules=MAP www.gov.uk 127.0.0.1:{site}",
            "--ignore-certificate-errors",
            "--window-size=900,700",
            "https://www.gov.uk/bank-holidays?ref=query-never-stored",
        )
        _browse_benefits_and_back(x_server, home, sock, "https://www.gov.uk")
    finally:
        code, err = stop_agent(agent)
        _close(chromium)
    assert code == 0, err
    _check_export(home, "https://www.gov.uk/")


FIREFOX_PREFS = {
    "xpinstall.signatures.required": False,  # the unsigned add-on in the profile (ESR)
    "extensions.autoDisableScopes": 0,  # enabled without asking
    "extensions.enabledScopes": 15,
    "network.dns.forceResolve": "127.0.0.1",  # www.gov.uk is the test's site
    "network.stricttransportsecurity.preloadlist": False,  # plain http to it
    "dom.security.https_only_mode": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.aboutwelcome.enabled": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.enabled": False,
}


def _firefox_profile(folder: Path) -> Path:
    """A Firefox profile holding the extension (as its Gecko id's .xpi) and FIREFOX_PREFS."""
    manifest = json.loads((EXTENSION / "manifest.json").read_text())
    gecko_id = manifest["browser_specific_settings"]["gecko"]["id"]
    (folder / "extensions").mkdir(parents=True)
    with zipfile.ZipFile(folder / "extensions" / f"{gecko_id}.xpi", "w") as xpi:
        for path in sorted(EXTENSION.iterdir()):
            xpi.write(path, path.name)
    lines = [f"user_pref({json.dumps(k)}, {json.dumps(v)});" for k, v in FIREFOX_PREFS.items()]
    (folder / "user.js").write_text("\n".join(lines) + "\n")
    return folder


def test_firefox_reports_the_focused_tab_to_the_agent_too(
    x_server: XServer, tmp_path: Path, plain_site: int
) -> None:
    browser = shutil.which("firefox-esr") or shutil.which("firefox")
    assert browser, "Firefox is not installed (make system-test-deps installs firefox-esr)"
    home = recording_home(tmp_path)
    person = tmp_path / "person"  # the HOME Firefox looks in for ~/.mozilla's host manifest
    person.mkdir()
    sock, manifests = _install_host(home, user_home=person)
    hosts = person / ".mozilla" / "native-messaging-hosts"
    assert hosts / "org.capture_agent.browser.json" in manifests
    profile = _firefox_profile(tmp_path / "firefox-profile")
    agent = start_agent(home, DISPLAY=x_server.display)
    base = f"http://www.gov.uk:{plain_site}"
    firefox = None
    try:
        wait_until_running(home, agent)
        firefox = x_server.spawn(
            browser,
            "--profile",
            str(profile),
            "--no-remote",
            "--width",
            "900",
            "--height",
            "700",
            f"{base}/bank-holidays?ref=query-never-stored",
            env={"HOME": str(person), "MOZ_CRASHREPORTER_DISABLE": "1"},
        )
        # Firefox starting under load dropped typed keys three times running (a whole
        # address typed again each time); one key press is what the test needs.
        _browse_benefits_and_back(x_server, home, sock, base, typed=False)
    finally:
        code, err = stop_agent(agent)
        _close(firefox)
    assert code == 0, err
    _check_export(home, f"{base}/")
