"""Which chunks a command may show: pinned device keys, and chunks that verify.

Shared by `export`, `view`, `verify`, `keys show` and `consent log --verify`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import AgentError
from storage.errors import KeyMaterialError

if TYPE_CHECKING:
    from storage.trust import TrustedChunks

DEVICE_KEY_PUB_GLOB = "device-signing-*.pub"

UNVERIFIED_HELP = (
    "show chunks without verifying them (signature, order, chain): for damaged or "
    "foreign data you mean to inspect; nothing shown is then trusted"
)


def pinned_device_keys(keys_dir: Path) -> list[str]:
    """The device signing keys chunks must be signed with: the current one, then retired."""
    from storage.keys import DEVICE_SIGNING_KEY, load_signing_key, public_key_text
    from storage.keystore import RETIRED_DIR

    keys = [public_key_text(load_signing_key(keys_dir / DEVICE_SIGNING_KEY).public_key())]
    retired = keys_dir / RETIRED_DIR
    if retired.is_dir():
        for path in sorted(retired.glob(DEVICE_KEY_PUB_GLOB)):
            text = path.read_text(encoding="ascii").strip()
            if text:
                keys.append(text)
    return keys


def chunks_to_show(
    sessions: Path,
    keys_dir: Path,
    identities: list[Any],
    device_id: str,
    session: str | None,
    unverified: bool,
) -> TrustedChunks:
    """The chunks `export` and `view` may show (storage/trust.py); problems on stderr.

    Without ``unverified`` only chunks `verify` passes are returned, and each chunk it
    flags gets one stderr line; with it every chunk is, after a warning that says so.
    """
    from storage.trust import trusted_chunks

    if unverified:
        sys.stderr.write(
            "capture-agent: warning: --unverified: chunks are shown without checking their "
            "signature, order or chain; a forged or moved chunk would be shown too, and "
            "nothing shown is verified\n"
        )
        return trusted_chunks(sessions, identities, None, device_id, session)
    try:
        pinned = pinned_device_keys(keys_dir)
    except KeyMaterialError as exc:
        raise AgentError(
            f"cannot pin the device key to verify chunks against: {exc} "
            "(--unverified reads them without verifying)"
        ) from None
    chunks = trusted_chunks(sessions, identities, pinned, device_id, session)
    for line in chunks.problems:
        sys.stderr.write(f"capture-agent: {line}\n")
    return chunks
