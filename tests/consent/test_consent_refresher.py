"""Policy sources and the refresher: fail closed on anything that cannot be trusted."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from consent.errors import (
    PolicyBadSignature,
    PolicyMalformed,
    PolicyRollback,
    PolicySourceInvalid,
    PolicyUnreachable,
    PolicyWrongKey,
)
from consent.policy import MAX_POLICY_BYTES, PolicyKeyPair, generate_policy_keypair, sign_policy
from consent.refresher import COLLECTION_PAUSED, PolicyRefresher, apply_decision
from consent.sources import (
    FilePolicySource,
    HttpsPolicySource,
    S3PolicySource,
    check_https_url,
    parse_s3_url,
    policy_source,
)
from consent.state import ConsentMachine, StateName

LEASE_END = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NOW = LEASE_END - 3600


def lease(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def org() -> PolicyKeyPair:
    return generate_policy_keypair()


def signed(org: PolicyKeyPair, **changes: Any) -> bytes:
    doc: dict[str, Any] = {
        "version": 1,
        "collect": True,
        "not_after": lease(LEASE_END),
        "mode": "opt-out",
        "snooze_max_minutes": 10,
    }
    doc.update(changes)
    return sign_policy(doc, org.private_pem)


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the refresher over a real file -----------------------------------------------


@pytest.fixture
def policy_file(tmp_path: Path, org: PolicyKeyPair) -> Path:
    path = tmp_path / "policy.json"
    path.write_bytes(signed(org))
    return path


def test_valid_policy_unblocks_with_its_settings(
    tmp_path: Path, policy_file: Path, org: PolicyKeyPair
) -> None:
    clock = Clock()
    machine = ConsentMachine(tmp_path / "state.json", clock=clock)
    machine.block("no fleet policy yet")
    refresher = PolicyRefresher(FilePolicySource(policy_file), org.public, clock=clock)
    decision = refresher.refresh()
    assert not decision.blocked and decision.policy is not None and decision.error is None
    transitions = apply_decision(machine, decision)
    assert [t.kind for t in transitions] == ["unblocked"]
    assert machine.mode == "opt-out" and machine.snooze_max_minutes == 10
    assert machine.is_recording  # opt-out mode: an undecided person is recorded


def test_file_flipped_to_collect_false_blocks_at_next_refresh(
    tmp_path: Path, policy_file: Path, org: PolicyKeyPair
) -> None:
    clock = Clock()
    machine = ConsentMachine(tmp_path / "state.json", clock=clock)
    machine.opt_in()
    refresher = PolicyRefresher(FilePolicySource(policy_file), org.public, clock=clock, interval=30)
    apply_decision(machine, refresher.refresh())
    assert machine.is_recording
    policy_file.write_bytes(signed(org, collect=False))
    clock.now += 30
    assert refresher.due()
    decision = refresher.refresh()
    assert decision.block_reason == COLLECTION_PAUSED
    [t] = apply_decision(machine, decision)
    assert (t.kind, t.actor, t.new.name) == ("blocked", "policy", StateName.BLOCKED)
    assert not machine.is_recording_at(clock.now)
    assert machine.state.reason == COLLECTION_PAUSED
    assert apply_decision(machine, refresher.refresh()) == []  # no repeated marker
    policy_file.write_bytes(signed(org))
    apply_decision(machine, refresher.refresh())
    assert machine.is_recording


def test_expired_lease_blocks_without_a_fetch(policy_file: Path, org: PolicyKeyPair) -> None:
    clock = Clock()
    refresher = PolicyRefresher(FilePolicySource(policy_file), org.public, clock=clock)
    assert not refresher.refresh().blocked
    clock.now = LEASE_END
    decision = refresher.evaluate()
    assert decision.block_reason == "the fleet policy lease ended at 2027-01-15T08:00:00Z"


def test_expired_policy_fetched_blocks(policy_file: Path, org: PolicyKeyPair) -> None:
    policy_file.write_bytes(signed(org, not_after=lease(NOW - 1)))
    decision = PolicyRefresher(FilePolicySource(policy_file), org.public, clock=Clock()).refresh()
    assert decision.blocked and "lease ended" in str(decision.block_reason)


def test_unreachable_within_lease_keeps_running_then_blocks_past_it(
    policy_file: Path, org: PolicyKeyPair
) -> None:
    clock = Clock()
    refresher = PolicyRefresher(FilePolicySource(policy_file), org.public, clock=clock)
    refresher.refresh()
    policy_file.unlink()
    decision = refresher.refresh()
    assert not decision.blocked and isinstance(decision.error, PolicyUnreachable)
    clock.now = LEASE_END + 1
    decision = refresher.refresh()
    assert decision.blocked
    assert "lease ended" in str(decision.block_reason)
    assert "could not be renewed" in str(decision.block_reason)
    assert str(policy_file) in str(decision.block_reason)


def test_never_reachable_blocks(tmp_path: Path, org: PolicyKeyPair) -> None:
    refresher = PolicyRefresher(
        FilePolicySource(tmp_path / "absent.json"), org.public, clock=Clock()
    )
    decision = refresher.refresh()
    assert decision.blocked and decision.block_reason is not None
    assert decision.block_reason.startswith("no valid fleet policy: ")
    assert isinstance(decision.error, PolicyUnreachable)


@pytest.mark.parametrize("bad", ["wrong key", "altered", "garbage"])
def test_untrusted_policy_blocks_at_once_even_within_lease(
    policy_file: Path, org: PolicyKeyPair, bad: str
) -> None:
    clock = Clock()
    refresher = PolicyRefresher(FilePolicySource(policy_file), org.public, clock=clock)
    assert not refresher.refresh().blocked
    if bad == "wrong key":
        policy_file.write_bytes(signed(generate_policy_keypair()))
    elif bad == "altered":
        policy_file.write_bytes(signed(org).replace(b'"collect": true', b'"collect": false '))
    else:
        policy_file.write_bytes(b"garbage")
    held = refresher.policy
    decision = refresher.refresh()
    assert decision.blocked and str(decision.block_reason).startswith("fleet policy refused: ")
    assert decision.policy is held is not None  # refused, yet the accepted policy stays
    expected = {
        "wrong key": PolicyWrongKey,
        "altered": PolicyBadSignature,
        "garbage": PolicyMalformed,
    }[bad]
    assert isinstance(decision.error, expected)


def test_replayed_older_policy_is_refused(policy_file: Path, org: PolicyKeyPair) -> None:
    policy_file.write_bytes(signed(org, issued_at="2026-06-01T00:00:00Z", collect=False))
    refresher = PolicyRefresher(FilePolicySource(policy_file), org.public, clock=Clock())
    assert refresher.refresh().block_reason == COLLECTION_PAUSED
    policy_file.write_bytes(signed(org, issued_at="2026-05-01T00:00:00Z"))
    decision = refresher.refresh()
    assert decision.blocked and isinstance(decision.error, PolicyRollback)


def test_cache_lets_an_offline_start_run_within_the_lease(
    tmp_path: Path, policy_file: Path, org: PolicyKeyPair
) -> None:
    cache = tmp_path / "policy.cache"
    clock = Clock()
    PolicyRefresher(
        FilePolicySource(policy_file), org.public, clock=clock, cache_path=cache
    ).refresh()
    assert cache.read_bytes() == policy_file.read_bytes()
    policy_file.unlink()  # offline at the next start
    again = PolicyRefresher(
        FilePolicySource(policy_file), org.public, clock=clock, cache_path=cache
    )
    assert not again.refresh().blocked
    clock.now = LEASE_END
    assert again.refresh().blocked
    # A forged cache is ignored.
    cache.write_bytes(signed(generate_policy_keypair()))
    third = PolicyRefresher(
        FilePolicySource(policy_file), org.public, clock=Clock(), cache_path=cache
    )
    assert third.policy is None and third.refresh().blocked


def test_refused_policy_keeps_the_accepted_cache(
    tmp_path: Path, policy_file: Path, org: PolicyKeyPair
) -> None:
    cache = tmp_path / "policy.cache"
    refresher = PolicyRefresher(
        FilePolicySource(policy_file), org.public, clock=Clock(), cache_path=cache
    )
    refresher.refresh()
    accepted = cache.read_bytes()
    policy_file.write_bytes(b"garbage")
    assert refresher.refresh().blocked
    assert cache.read_bytes() == accepted  # a refusal never replaces what was accepted


def test_policy_block_keeps_the_persons_choice(
    tmp_path: Path, policy_file: Path, org: PolicyKeyPair
) -> None:
    clock = Clock()
    machine = ConsentMachine(tmp_path / "state.json", clock=clock)
    refresher = PolicyRefresher(FilePolicySource(policy_file), org.public, clock=clock)
    apply_decision(machine, refresher.refresh())
    machine.opt_out()
    policy_file.write_bytes(signed(org, collect=False))
    apply_decision(machine, refresher.refresh())
    policy_file.write_bytes(signed(org))
    apply_decision(machine, refresher.refresh())
    assert machine.state.name is StateName.OPTED_OUT


# -- sources ------------------------------------------------------------------------


def test_file_source_reads_and_caps(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b"x" * 10)
    assert FilePolicySource(path).fetch() == b"x" * 10
    path.write_bytes(b"x" * (MAX_POLICY_BYTES + 1))
    with pytest.raises(PolicyMalformed, match="larger than"):
        FilePolicySource(path).fetch()
    with pytest.raises(PolicyUnreachable, match="cannot read"):
        FilePolicySource(tmp_path / "absent").fetch()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/p.json",
        "ftp://example.com/p",
        "https:///p.json",
        "https://user:pw@example.com/p.json",
        "example.com/p.json",
    ],
)
def test_https_url_validation(url: str) -> None:
    with pytest.raises(PolicySourceInvalid):
        check_https_url(url)


def test_policy_source_dispatch(tmp_path: Path) -> None:
    assert isinstance(policy_source("https://example.com/p.json"), HttpsPolicySource)
    s3 = policy_source("s3://fleet/policy/current.json", s3_endpoint_url="http://127.0.0.1:1")
    assert isinstance(s3, S3PolicySource) and (s3.bucket, s3.key) == (
        "fleet",
        "policy/current.json",
    )
    assert isinstance(policy_source(str(tmp_path / "p.json")), FilePolicySource)
    assert isinstance(policy_source(f"file://{tmp_path}/p.json"), FilePolicySource)
    for bad in ("http://example.com/p.json", "gopher://x/y", "s3://bucket", "s3:///key", ""):
        with pytest.raises(PolicySourceInvalid):
            policy_source(bad)


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://b/k/x.json") == ("b", "k/x.json")


class FakeS3:
    """boto3's get_object, enough for the policy source."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        try:
            return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}
        except KeyError:
            raise RuntimeError("NoSuchKey") from None


def test_s3_source_with_a_client(org: PolicyKeyPair) -> None:
    blob = signed(org)
    source = S3PolicySource(
        "s3://fleet/policy.json", client=FakeS3({("fleet", "policy.json"): blob})
    )
    assert source.fetch() == blob
    missing = S3PolicySource("s3://fleet/other.json", client=FakeS3({}))
    with pytest.raises(PolicyUnreachable, match="RuntimeError: NoSuchKey"):
        missing.fetch()


def test_s3_source_unreachable_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    source = S3PolicySource(
        "s3://fleet/policy.json", endpoint_url="http://127.0.0.1:9", region_name="us-east-1"
    )
    with pytest.raises(PolicyUnreachable, match=r"s3://fleet/policy\.json: cannot fetch"):
        source.fetch()


# -- https against a real local TLS server -------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    cert_path, key_path = _self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(cert_path))
    try:
        yield f"https://localhost:{server.server_address[1]}", client_context
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_https_source_end_to_end(
    tls_server: tuple[str, ssl.SSLContext], org: PolicyKeyPair
) -> None:
    base, context = tls_server
    _Handler.routes = {
        "/policy.json": (200, {}, signed(org)),
        "/paused.json": (200, {}, signed(org, collect=False)),
        "/moved": (302, {"Location": "/policy.json"}, b""),
        "/downgrade": (302, {"Location": "http://localhost:1/policy.json"}, b""),
    }
    good = HttpsPolicySource(f"{base}/policy.json", timeout=5, ssl_context=context)
    assert PolicyRefresher(good, org.public, clock=Clock()).refresh().blocked is False
    paused = HttpsPolicySource(f"{base}/paused.json", timeout=5, ssl_context=context)
    assert PolicyRefresher(paused, org.public, clock=Clock()).refresh().block_reason == (
        COLLECTION_PAUSED
    )
    moved = HttpsPolicySource(f"{base}/moved", timeout=5, ssl_context=context)
    assert moved.fetch() == _Handler.routes["/policy.json"][2]
    with pytest.raises(PolicyUnreachable, match="non-https"):
        HttpsPolicySource(f"{base}/downgrade", timeout=5, ssl_context=context).fetch()
    with pytest.raises(PolicyUnreachable, match="HTTP 404"):
        HttpsPolicySource(f"{base}/absent", timeout=5, ssl_context=context).fetch()


def test_https_source_checks_the_certificate(tls_server: tuple[str, ssl.SSLContext]) -> None:
    base, _ = tls_server
    _Handler.routes = {"/policy.json": (200, {}, b"{}")}
    untrusting = HttpsPolicySource(f"{base}/policy.json", timeout=5)  # system CAs only
    with pytest.raises(PolicyUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.fetch()
