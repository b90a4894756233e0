"""The signed fleet policy: signing, verifying, refusing what cannot be trusted."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from consent.errors import (
    PolicyBadSignature,
    PolicyExpired,
    PolicyKeyInvalid,
    PolicyMalformed,
    PolicyUnknownVersion,
    PolicyWrongKey,
)
from consent.policy import (
    MAX_POLICY_BYTES,
    PolicyKeyPair,
    check_lease,
    generate_policy_keypair,
    load_public_key,
    sign_policy,
    verify_policy,
)

LEASE = "2030-01-01T00:00:00Z"


def policy_dict(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "collect": True,
        "not_after": LEASE,
        "mode": "opt-out",
        "snooze_max_minutes": 15,
        "max_sensitivity": 2,
        "denylist": {
            "apps": ["KeePassXC"],
            "titles": ["Online Banking"],
            "urls": ["*.bank.example"],
        },
        "scope": {"keys": True, "mouse": True, "screen": False, "min_frame_interval": 2.0},
    }
    doc.update(changes)
    return doc


@pytest.fixture(scope="module")
def org() -> PolicyKeyPair:
    return generate_policy_keypair()


def resign(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def test_sign_and_verify_round_trip(org: PolicyKeyPair) -> None:
    policy = verify_policy(sign_policy(policy_dict(), org.private_pem), org.public)
    assert policy.collect and policy.mode == "opt-out"
    assert policy.snooze_max_minutes == 15 and policy.max_sensitivity == 2
    assert policy.denylist.apps == ["KeePassXC"]
    assert policy.scope.screen is False and policy.scope.min_frame_interval == 2.0
    assert policy.not_after_ts == 1893456000.0
    assert not policy.expired(1893455999.0) and policy.expired(1893456000.0)


def test_defaults_are_the_cautious_ones(org: PolicyKeyPair) -> None:
    blob = sign_policy({"version": 1, "collect": True, "not_after": LEASE}, org.private_pem)
    policy = verify_policy(blob, org.public)
    assert policy.mode == "opt-in" and policy.snooze_max_minutes == 30


def test_lease_is_normalised_to_utc(org: PolicyKeyPair) -> None:
    blob = sign_policy(policy_dict(not_after="2030-01-01T02:00:00+02:00"), org.private_pem)
    assert verify_policy(blob, org.public).not_after_ts == 1893456000.0


@pytest.mark.parametrize("form", ["pem", "base64", "raw", "object"])
def test_pinned_key_forms(org: PolicyKeyPair, form: str) -> None:
    key = load_public_key(org.public)
    pinned: Any = {
        "pem": key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "base64": org.public,
        "raw": base64.b64decode(org.public),
        "object": key,
    }[form]
    assert verify_policy(sign_policy(policy_dict(), org.private_pem), pinned).collect


@pytest.mark.parametrize(
    "pinned",
    [
        "",
        "not base64!",
        base64.b64encode(b"short").decode(),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    ],
)
def test_bad_pinned_key_is_a_clear_error(pinned: str) -> None:
    with pytest.raises(PolicyKeyInvalid, match="pinned policy key"):
        load_public_key(pinned)


def test_signing_key_must_be_ed25519() -> None:
    with pytest.raises(PolicyKeyInvalid, match="cannot load the policy signing key"):
        sign_policy(policy_dict(), b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")


def test_wrong_key_is_refused(org: PolicyKeyPair) -> None:
    other = generate_policy_keypair()
    blob = sign_policy(policy_dict(), other.private_pem)
    with pytest.raises(PolicyWrongKey, match=other.key_id):
        verify_policy(blob, org.public)


def test_wrong_key_claiming_the_pinned_id_is_refused(org: PolicyKeyPair) -> None:
    other = generate_policy_keypair()
    envelope = json.loads(sign_policy(policy_dict(), other.private_pem))
    envelope["key_id"] = org.key_id
    with pytest.raises(PolicyBadSignature, match="does not verify"):
        verify_policy(resign(envelope), org.public)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("collect", False),
        ("not_after", "2099-01-01T00:00:00Z"),
        ("mode", "opt-in"),
        ("snooze_max_minutes", 30),
        ("unknown_extra", 1),
    ],
)
def test_altered_policy_is_refused(org: PolicyKeyPair, field: str, value: Any) -> None:
    envelope = json.loads(sign_policy(policy_dict(), org.private_pem))
    envelope["policy"][field] = value
    with pytest.raises(PolicyBadSignature):
        verify_policy(resign(envelope), org.public)


def test_every_signature_byte_matters(org: PolicyKeyPair) -> None:
    envelope = json.loads(sign_policy(policy_dict(), org.private_pem))
    signature = bytearray(base64.b64decode(envelope["signature"]))
    for index in range(len(signature)):
        flipped = bytearray(signature)
        flipped[index] ^= 0x01
        envelope["signature"] = base64.b64encode(bytes(flipped)).decode()
        with pytest.raises(PolicyBadSignature):
            verify_policy(resign(envelope), org.public)
    for bad in ("", "***", base64.b64encode(bytes(signature[:10])).decode()):
        envelope["signature"] = bad
        with pytest.raises(PolicyBadSignature):
            verify_policy(resign(envelope), org.public)


def test_every_envelope_byte_matters(org: PolicyKeyPair) -> None:
    """Flipping any byte of the published file is refused or changes nothing at all."""
    blob = sign_policy(policy_dict(), org.private_pem)
    original = verify_policy(blob, org.public)
    for index in range(len(blob)):
        flipped = bytearray(blob)
        flipped[index] ^= 0x01
        try:
            policy = verify_policy(bytes(flipped), org.public)
        except (PolicyMalformed, PolicyBadSignature, PolicyUnknownVersion):
            continue
        assert policy == original  # only JSON whitespace can change harmlessly


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"format": "something-else"}',
        b'{"format": "capture-agent-policy", "v": 1}',
        b'{"format": "capture-agent-policy", "v": 1, "key_id": "", "policy": [], "signature": 1}',
        b'{"format": "capture-agent-policy", "v": NaN}',
    ],
)
def test_malformed_envelopes_are_refused(org: PolicyKeyPair, blob: bytes) -> None:
    with pytest.raises((PolicyMalformed, PolicyUnknownVersion)):
        verify_policy(blob, org.public)


def test_oversize_document_is_refused_before_parsing(org: PolicyKeyPair) -> None:
    with pytest.raises(PolicyMalformed, match="more than"):
        verify_policy(b" " * (MAX_POLICY_BYTES + 1), org.public)


def test_unknown_envelope_version_is_refused(org: PolicyKeyPair) -> None:
    envelope = json.loads(sign_policy(policy_dict(), org.private_pem))
    envelope["v"] = 2
    with pytest.raises(PolicyUnknownVersion, match="update the agent"):
        verify_policy(resign(envelope), org.public)


def test_unknown_policy_version_is_refused_even_when_signed(org: PolicyKeyPair) -> None:
    with pytest.raises(PolicyUnknownVersion):
        sign_policy(policy_dict(version=2), org.private_pem)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"snooze_max_minutes": 31}, "snooze_max_minutes"),
        ({"snooze_max_minutes": 0}, "snooze_max_minutes"),
        ({"max_sensitivity": 5}, "max_sensitivity"),
        ({"collect": "yes"}, "collect"),
        ({"mode": "always"}, "mode"),
        ({"not_after": "2030-01-01T00:00:00"}, "not_after"),  # no time zone
        ({"not_after": "soon"}, "not_after"),
        ({"scope": {"keys": True, "webcam": True}}, "scope.webcam: unknown field"),
        ({"denylist": {"apps": [""]}}, "denylist.apps.0"),
        ({"surprise": 1}, "surprise: unknown field"),
    ],
)
def test_invalid_fields_are_named(
    org: PolicyKeyPair, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(PolicyMalformed, match=message):
        sign_policy(policy_dict(**changes), org.private_pem)


def test_missing_fields_are_named(org: PolicyKeyPair) -> None:
    with pytest.raises(PolicyMalformed, match="collect: required field is missing"):
        sign_policy({"version": 1, "not_after": LEASE}, org.private_pem)


def test_check_lease(org: PolicyKeyPair) -> None:
    policy = verify_policy(sign_policy(policy_dict(), org.private_pem), org.public)
    check_lease(policy, 1893455999.0)
    with pytest.raises(PolicyExpired, match="lease ended at 2030-01-01T00:00:00Z"):
        check_lease(policy, 1893456000.0)


def test_signed_body_holds_every_field_in_json_form(org: PolicyKeyPair) -> None:
    """The exact body older agents verify: defaults written out, times in UTC with Z."""
    envelope = json.loads(
        sign_policy(policy_dict(not_after="2030-01-01T02:00:00+02:00"), org.private_pem)
    )
    assert envelope["policy"] == {
        "version": 1,
        "collect": True,
        "not_after": "2030-01-01T00:00:00Z",
        "mode": "opt-out",
        "snooze_max_minutes": 15,
        "max_sensitivity": 2,
        "denylist": {
            "apps": ["KeePassXC"],
            "titles": ["Online Banking"],
            "urls": ["*.bank.example"],
        },
        "scope": {
            "keys": True,
            "mouse": True,
            "window": True,
            "screen": False,
            "min_frame_interval": 2.0,
        },
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"snooze_max_minutes": 31},
            "snooze_max_minutes: expected less than or equal to 30, got 31",
        ),
        ({"collect": 1}, "collect: expected a valid boolean (true or false), got 1"),
        ({"max_sensitivity": "2"}, "max_sensitivity: expected a valid integer, got '2'"),
        ({"mode": "always"}, "mode: expected 'opt-in' or 'opt-out', got 'always'"),
        (
            {"not_after": 1893456000},
            "not_after: expected a date and time with a time zone "
            "(ISO 8601, e.g. 2030-01-01T00:00:00Z), got 1893456000",
        ),
        (
            {"denylist": {"apps": ["", "ok", ""]}},
            "denylist.apps.0: expected at least 1 character, got ''; "
            "denylist.apps.2: expected at least 1 character, got ''",
        ),
    ],
)
def test_invalid_fields_say_what_was_expected(
    org: PolicyKeyPair, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(PolicyMalformed) as info:
        sign_policy(policy_dict(**changes), org.private_pem)
    assert str(info.value) == f"invalid fleet policy: {message}"


def test_sign_policy_help_names_every_policy_field() -> None:
    # The help is where an administrator writing a policy learns its fields; a field the
    # agent accepts but the help leaves out (work_domains, categories) cannot be found.
    import subprocess

    import msgspec

    from consent.policy import Denylist, Policy, Scope
    from tests.cli_helpers import CLI

    done = subprocess.run(
        [*CLI, "org", "sign-policy", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    words = " ".join(done.stdout.split())
    for struct in (Policy, Denylist, Scope):
        for name in msgspec.structs.fields(struct):
            assert name.encode_name in words, (struct.__name__, name.encode_name)
