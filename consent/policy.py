"""The fleet policy: a small JSON document signed with the organisation's Ed25519 key.

Envelope (what a source serves; ``signature`` covers the policy alone)::

    {
      "format": "capture-agent-policy",      fixed: what this file is
      "v": 1,                                 envelope version
      "key_id": "<32 hex>",                   SHA-256 of the raw public key, first 16 bytes
      "policy": { ... },                      the fields of :class:`Policy`
      "signature": "<base64, 64 bytes>"       Ed25519 over SIGNING_CONTEXT + canonical(policy)
    }

``canonical`` is :func:`storage.canonical.canonical_json`. The context prefix keeps a
signature made for a policy from ever being valid for anything else the key signs.
``key_id`` is a hint for a clear "wrong key" error; trust comes only from verifying
with the key pinned in the agent's config. The reader checks size, shape and version
before it verifies, and verifies before it reads a single policy field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from msgspec import Meta, Struct, field

from consent.errors import (
    PolicyBadSignature,
    PolicyExpired,
    PolicyKeyInvalid,
    PolicyMalformed,
    PolicyUnknownVersion,
    PolicyWrongKey,
)
from consent.state import MAX_SNOOZE_MINUTES
from consent.validation import Invalid, Problem, validate
from storage.canonical import canonical_json

ENVELOPE_FORMAT = "capture-agent-policy"
ENVELOPE_VERSION = 1
POLICY_VERSIONS = frozenset({1})
SIGNING_CONTEXT = b"capture-agent fleet policy v1\n"
MAX_POLICY_BYTES = 64 * 1024
_ENVELOPE_FIELDS = frozenset(("format", "v", "key_id", "policy", "signature"))


UtcDatetime = Annotated[datetime, Meta(tz=True)]
"""An ISO 8601 time with an explicit offset (normalised to UTC by the model)."""

Entry = Annotated[str, Meta(min_length=1, max_length=200)]
Entries = Annotated[list[Entry], Meta(max_length=1000)]


class _Model(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Unknown fields refused, values fixed once validated (subclasses repeat
    ``frozen=True, kw_only=True``: msgspec applies ``kw_only`` per class, and type
    checkers read ``frozen`` per class)."""


class Denylist(_Model, frozen=True, kw_only=True, omit_defaults=True):
    """Extra entries the organisation adds to the device's denylist, and its choices for
    the category taxonomy (privacy/window_rules). Fields left at their default are not
    written, so policies signed before these fields existed keep their exact form."""

    apps: Entries = field(default_factory=list)
    titles: Entries = field(default_factory=list)
    urls: Entries = field(default_factory=list)
    work_domains: Entries = field(default_factory=list)
    """The organisation's own sites (its mail, its GitHub org): evidence against blocking."""
    categories: Entries | None = None
    """The categories to enforce (None: all); the floor (health, messaging, password
    managers, private browsing) is enforced whatever this says."""
    url_detail: Literal["none", "domain", "path"] = "domain"
    """How much of a browser tab's URL window events keep; never a query string."""

    def as_entries(self) -> list[dict[str, list[str]]]:
        """The entries in the device denylist's form (privacy.denylist), none if empty."""
        if not (self.apps or self.titles or self.urls):
            return []
        return [{"apps": list(self.apps), "titles": list(self.titles), "domains": list(self.urls)}]


class Scope(_Model, frozen=True, kw_only=True):
    """What may be captured at all; ``min_frame_interval`` caps the frame rate (seconds)."""

    keys: bool = True
    mouse: bool = True
    window: bool = True
    screen: bool = True
    min_frame_interval: Annotated[float, Meta(ge=0.1, le=3600)] | None = None


class Policy(_Model, frozen=True, kw_only=True):
    """A verified fleet policy (validated strictly: true is not 1, 5 is not "5")."""

    version: Literal[1]
    collect: bool
    not_after: UtcDatetime
    issued_at: UtcDatetime | None = None
    mode: Literal["opt-in", "opt-out"] = "opt-in"
    snooze_max_minutes: Annotated[int, Meta(ge=1, le=MAX_SNOOZE_MINUTES)] = MAX_SNOOZE_MINUTES
    max_sensitivity: Annotated[int, Meta(ge=1, le=4)] = 2
    denylist: Denylist = field(default_factory=Denylist)
    scope: Scope = field(default_factory=Scope)

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "not_after", self.not_after.astimezone(UTC))
        if self.issued_at is not None:
            msgspec.structs.force_setattr(self, "issued_at", self.issued_at.astimezone(UTC))

    @property
    def not_after_ts(self) -> float:
        """The lease end as Unix seconds."""
        return self.not_after.timestamp()

    def expired(self, now: float) -> bool:
        """True once the lease has ended at wall time ``now``."""
        return now >= self.not_after_ts


@dataclass(frozen=True, slots=True)
class PolicyKeyPair:
    """An organisation policy-signing key: PKCS#8 PEM private key and its public forms."""

    private_pem: bytes
    public: str  # base64 of the raw 32-byte key: what the agent's config pins
    key_id: str


def key_id(public_key: Ed25519PublicKey) -> str:
    """The short identifier of a public key (hex of the first 16 bytes of its SHA-256)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """The base64 raw form of a public key, as pinned in config."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def generate_policy_keypair() -> PolicyKeyPair:
    """A fresh Ed25519 policy-signing key (for `org keygen` and tests)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private.public_key()
    return PolicyKeyPair(private_pem=pem, public=public_key_text(public), key_id=key_id(public))


def load_public_key(value: Ed25519PublicKey | str | bytes) -> Ed25519PublicKey:
    """A pinned key from a key object, a PEM, base64 of the raw 32 bytes, or raw bytes."""
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, bytes) and len(value) == 32:
        return Ed25519PublicKey.from_public_bytes(value)
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise PolicyKeyInvalid("the pinned policy key is not an Ed25519 public key")
            return key
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise PolicyKeyInvalid(
            "the pinned policy key is neither a PEM public key nor base64 of a 32-byte Ed25519 key"
        ) from None


def _load_private_key(pem: bytes | str, password: bytes | None) -> Ed25519PrivateKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise PolicyKeyInvalid(f"cannot load the policy signing key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PolicyKeyInvalid("the policy signing key is not an Ed25519 private key")
    return key


def _describe(problem: Problem) -> str:
    where = problem.location(index_brackets=False)
    if problem.kind == "missing":
        return f"{where}: required field is missing"
    if problem.kind == "unknown":
        return f"{where}: unknown field"
    return f"{where}: {problem.detail}"


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def validate_policy(policy: dict[str, Any]) -> Policy:
    """Validate policy fields (no signature involved); raises PolicyMalformed or
    PolicyUnknownVersion."""
    version = policy.get("version")
    if isinstance(version, bool) or version not in POLICY_VERSIONS:
        raise PolicyUnknownVersion(
            f"fleet policy version {version!r} is not one this agent "
            f"knows ({sorted(POLICY_VERSIONS)}); update the agent"
        )
    try:
        return validate(policy, Policy)
    except Invalid as exc:
        problems = "; ".join(_describe(p) for p in exc.problems)
        raise PolicyMalformed(f"invalid fleet policy: {problems}") from None


def policy_body(policy: Policy) -> dict[str, Any]:
    """The fields as signed: every one, defaults included, times as ISO 8601 UTC ("...Z"),
    unset options (``issued_at``) left out."""
    body: dict[str, Any] = _without_none(msgspec.to_builtins(policy))
    return body


def sign_policy(
    policy: dict[str, Any], private_key_pem: bytes | str, password: bytes | None = None
) -> bytes:
    """Validate ``policy`` and return the signed envelope (JSON bytes, ready to publish).

    ``issued_at`` is signed as given (left out when absent); `org sign-policy` sets it to
    the signing time, which is what rollback protection orders policies by.
    """
    body = policy_body(validate_policy(policy))
    key = _load_private_key(private_key_pem, password)
    signature = key.sign(SIGNING_CONTEXT + canonical_json(body))
    envelope = {
        "format": ENVELOPE_FORMAT,
        "v": ENVELOPE_VERSION,
        "key_id": key_id(key.public_key()),
        "policy": body,
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    return (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def verify_policy(blob: bytes, pinned_public_key: Ed25519PublicKey | str | bytes) -> Policy:
    """Check a signed envelope against the pinned key and return its policy.

    Raises PolicyMalformed, PolicyUnknownVersion, PolicyWrongKey or PolicyBadSignature.
    The lease is not judged here: see :func:`check_lease`.
    """
    pinned = load_public_key(pinned_public_key)
    if len(blob) > MAX_POLICY_BYTES:
        raise PolicyMalformed(
            f"fleet policy is {len(blob)} bytes, more than the {MAX_POLICY_BYTES} allowed"
        )
    try:
        envelope = json.loads(blob.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise PolicyMalformed("fleet policy is not a JSON document") from None
    if not isinstance(envelope, dict) or envelope.get("format") != ENVELOPE_FORMAT:
        raise PolicyMalformed("not a signed capture-agent policy (missing or wrong 'format')")
    if envelope.get("v") != ENVELOPE_VERSION or isinstance(envelope.get("v"), bool):
        raise PolicyUnknownVersion(
            f"policy envelope version {envelope.get('v')!r} is not "
            f"one this agent knows ({ENVELOPE_VERSION}); update the agent"
        )
    if set(envelope) != _ENVELOPE_FIELDS:
        raise PolicyMalformed(f"policy envelope fields must be {sorted(_ENVELOPE_FIELDS)}")
    body, signature_text = envelope["policy"], envelope["signature"]
    if not isinstance(body, dict) or not isinstance(signature_text, str):
        raise PolicyMalformed(
            "policy envelope: 'policy' must be an object and 'signature' a string"
        )
    expected_id = key_id(pinned)
    if envelope["key_id"] != expected_id:
        raise PolicyWrongKey(
            f"fleet policy signed by key {envelope['key_id']!r}, but the "
            f"pinned organisation key is {expected_id!r}"
        )
    try:
        signature = base64.b64decode(signature_text, validate=True)
        pinned.verify(signature, SIGNING_CONTEXT + canonical_json(body))
    except (binascii.Error, ValueError, InvalidSignature):
        raise PolicyBadSignature(
            "fleet policy signature does not verify with the pinned "
            "organisation key (altered or forged)"
        ) from None
    return validate_policy(body)


def check_lease(policy: Policy, now: float) -> None:
    """Raise PolicyExpired when the policy's lease has ended at wall time ``now``."""
    if policy.expired(now):
        raise PolicyExpired(
            f"the fleet policy lease ended at {policy.not_after.isoformat().replace('+00:00', 'Z')}"
        )
