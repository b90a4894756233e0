"""The ledger heads signed into this home's chunks, for `consent log --verify`.

The consent ledger's own hash chain cannot show a ledger rewritten with recomputed
hashes; the chunks can (storage/anchors.py). Reading their manifests needs the person's
identity (chunks are encrypted) and the pinned device key (an anchor counts only under
the device's signature), the same keys `verify` uses.
"""

from __future__ import annotations

from agent.paths import Paths
from storage.anchors import LedgerAnchor


def chunk_anchors(paths: Paths) -> tuple[list[tuple[str, LedgerAnchor]], list[str], str | None]:
    """(chunk label, anchor) of every readable chunk, notes, and why none were read.

    Never raises for a missing configuration or key: the third value says what stopped
    the check (None when it ran), and the caller reports it.
    """
    from agent.cli.common import identities, load_home_config, sessions_dir
    from agent.cli.trust import pinned_device_keys
    from agent.errors import AgentError
    from storage.anchors import collect_anchors
    from storage.errors import StorageError
    from storage.keys import public_key_from_text

    if not paths.config_file.exists():
        return [], [], None  # no home yet: nothing was ever sealed here
    try:
        config = load_home_config(paths)
        folder = sessions_dir(paths, config)
        pinned = {text: public_key_from_text(text) for text in pinned_device_keys(paths.keys_dir)}
        keys = identities(paths, None)
        found, notes = collect_anchors(folder, keys, pinned)
    except (AgentError, StorageError, OSError) as exc:
        return [], [], str(exc)
    return [(chunk.label, chunk.anchor) for chunk in found], notes, None
