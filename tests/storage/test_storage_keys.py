"""Key storage: OS keyring when usable, else a 0600 file or a passphrase file; rotation."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.fail import Keyring as FailKeyring

from storage.errors import KeyMaterialError
from storage.keys import generate_age_identity
from storage.keystore import (
    keyring_status,
    list_slots,
    load_identities,
    rotate_identity,
    store_identity,
)
from tests.cli_helpers import run_cli


def _memory_keyring_class() -> type[KeyringBackend]:
    """A usable in-memory backend (CI machines have none).

    Defined only when a test asks for it: keyring registers every backend subclass, and
    one defined at import time would be picked up by every later keyring lookup.
    """

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.secrets: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.secrets.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.secrets[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.secrets.pop((service, username), None)

    return MemoryKeyring


@pytest.fixture
def memory_keyring() -> Iterator[Any]:
    before = keyring.get_keyring()  # detection happens before the class exists
    backend = _memory_keyring_class()()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        keyring.set_keyring(before)


def test_without_a_usable_keyring_the_identity_goes_to_a_private_file(
    tmp_path: Path, no_keyring: None
) -> None:
    usable, backend = keyring_status()
    assert not usable and "fail" in backend
    pair = generate_age_identity()
    slot = store_identity(tmp_path / "keys", pair)
    assert slot.kind == "file" and slot.path.name == "person.agekey"
    assert stat.S_IMODE(slot.path.stat().st_mode) == 0o600
    assert [str(i.to_public()) for i in load_identities(tmp_path / "keys")] == [pair.public]
    with pytest.raises(KeyMaterialError, match="no usable OS keyring"):
        store_identity(tmp_path / "other", pair, "keyring")


def test_keyring_holds_the_secret_and_the_marker_does_not(
    tmp_path: Path, memory_keyring: Any
) -> None:
    assert keyring_status()[0]
    pair = generate_age_identity()
    slot = store_identity(tmp_path / "keys", pair)
    assert slot.kind == "keyring"
    marker = slot.path.read_text()
    assert pair.secret not in marker and json.loads(marker)["public"] == pair.public
    assert list(memory_keyring.secrets.values()) == [pair.secret]
    assert [str(i.to_public()) for i in load_identities(tmp_path / "keys")] == [pair.public]
    memory_keyring.secrets.clear()
    with pytest.raises(KeyMaterialError, match="has no entry"):
        load_identities(tmp_path / "keys")


def test_passphrase_protected_identity(tmp_path: Path) -> None:
    pair = generate_age_identity()
    slot = store_identity(tmp_path / "keys", pair, "passphrase", passphrase="correct horse")
    assert slot.kind == "passphrase"
    sealed = slot.path.read_bytes()
    assert sealed.startswith(b"age-encryption.org/v1\n-> scrypt ")
    assert pair.secret.encode() not in sealed
    assert list_slots(tmp_path / "keys")[0].public == pair.public  # from the .pub sidecar
    identities = load_identities(tmp_path / "keys", ask=lambda _what: "correct horse")
    assert [str(i.to_public()) for i in identities] == [pair.public]
    with pytest.raises(KeyMaterialError, match="wrong passphrase"):
        load_identities(tmp_path / "keys", ask=lambda _what: "wrong")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("# only comments\n", "no AGE-SECRET-KEY line found"),
        ("AGE-SECRET-KEY-1NOTBECH32\n", "malformed age identity"),
    ],
)
def test_every_slot_refuses_a_forged_secret_the_same_way(
    tmp_path: Path, memory_keyring: Any, text: str, why: str
) -> None:
    """Attack: the secret in a key file, a keyring entry and a passphrase file replaced by
    junk. One parser reads all three: the same one-line error, naming where it came from."""
    import pyrage

    pair = generate_age_identity()
    file_slot = store_identity(tmp_path / "file", pair, "file")
    file_slot.path.write_text(text)
    store_identity(tmp_path / "keyring", pair, "keyring")
    for key in memory_keyring.secrets:
        memory_keyring.secrets[key] = text
    sealed_slot = store_identity(tmp_path / "sealed", pair, "passphrase", passphrase="pw")
    sealed_slot.path.write_bytes(pyrage.passphrase.encrypt(text.encode(), "pw"))
    messages = []
    for folder in ("file", "keyring", "sealed"):
        with pytest.raises(KeyMaterialError) as caught:
            load_identities(tmp_path / folder, ask=lambda _what: "pw")
        messages.append(str(caught.value))
    assert messages[0] == f"{file_slot.path}: {why}"
    assert messages[1].startswith("keyring entry person:") and messages[1].endswith(f": {why}")
    assert messages[2] == f"{sealed_slot.path}: {why}"
    assert all("\n" not in m for m in messages)


def test_rotation_keeps_old_identity_and_updates_config(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    old = generate_age_identity()
    store_identity(keys, old, "file")
    config = tmp_path / "config.toml"
    config.write_text(f'[recipients]\norganisation = ["x"]\nperson = "{old.public}"\n')
    result = rotate_identity(keys, config, "auto")
    assert result.old_public == old.public and result.new_public != old.public
    assert f'person = "{result.new_public}"' in config.read_text()
    assert result.retired_slot.parent.name == "retired"
    publics = [str(i.to_public()) for i in load_identities(keys)]
    assert publics == [result.new_public, old.public]  # current first, then retired
    slots = list_slots(keys)
    assert [s.retired is None for s in slots] == [True, False]


def test_rotation_refuses_when_config_does_not_name_the_identity(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    store_identity(keys, generate_age_identity(), "file")
    config = tmp_path / "config.toml"
    config.write_text('person = "age1someoneelse"\n')
    with pytest.raises(KeyMaterialError, match="nothing was changed"):
        rotate_identity(keys, config)
    assert [s.retired for s in list_slots(keys)] == [None]


TRACE = '{"type":"key","t":0,"key":"a","pressed":true,"char":"a"}\n'


def test_keys_show_and_rotate_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    trace = tmp_path / "t.jsonl"
    trace.write_text(TRACE)
    shown = json.loads(run_cli(home, "keys", "show", "--json").stdout)
    init_key = shown["device_signing_public_key"]
    assert shown["keyring"]["usable"] is False  # no Secret Service on these machines
    assert shown["identities"][0]["public"] == shown["person_recipient"]
    human = run_cli(home, "keys", "show").stdout
    assert init_key in human and shown["person_recipient"] in human

    assert run_cli(home, "run", "--replay", str(trace)).returncode == 0
    rotated = run_cli(home, "keys", "rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    result = json.loads(rotated.stdout)
    assert run_cli(home, "run", "--replay", str(trace)).returncode == 0
    after = json.loads(run_cli(home, "keys", "show", "--json").stdout)
    assert after["person_recipient"] == result["new_recipient"]
    assert after["device_signing_public_key"] == init_key
    assert [i["current"] for i in after["identities"]] == [True, False]
    # verify tries every identity: the chunk sealed before rotation still verifies.
    checked = run_cli(home, "verify", "--json")
    report = json.loads(checked.stdout)
    assert checked.returncode == 0 and report["ok"] and report["verified"] == 2


def test_rotate_with_passphrase_needs_a_terminal_or_the_variable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    done = run_cli(home, "keys", "rotate", "--passphrase")
    assert done.returncode == 2 and "terminal" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = run_cli(
        home, "keys", "rotate", "--passphrase", "--json", CAPTURE_AGENT_PASSPHRASE="s3cret phrase"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "passphrase"
    shown = run_cli(home, "keys", "show", "--json")
    assert json.loads(shown.stdout)["identities"][0]["kind"] == "passphrase"
    checked = run_cli(home, "verify", CAPTURE_AGENT_PASSPHRASE="s3cret phrase")
    assert checked.returncode == 0, checked.stderr
    wrong = run_cli(home, "verify", CAPTURE_AGENT_PASSPHRASE="nope")
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr


def test_init_keeps_the_identity_in_the_keyring_when_one_is_usable(
    tmp_path: Path, memory_keyring: Any
) -> None:
    from agent.paths import resolve_paths
    from agent.setup.home import init_home

    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(tmp_path / "home")})
    result = init_home(paths, [])
    assert result.identity_where.startswith("the OS keyring")
    secrets = list(memory_keyring.secrets.values())
    assert len(secrets) == 1 and secrets[0].startswith("AGE-SECRET-KEY-")
    # No file under the home holds the secret; the identity loads from the keyring.
    assert not any(
        secrets[0].encode() in p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file()
    )
    loaded = load_identities(paths.keys_dir)
    assert [str(i.to_public()) for i in loaded] == [result.person_recipient]


def test_init_falls_back_to_a_private_file_without_a_keyring(
    tmp_path: Path, no_keyring: None
) -> None:
    from agent.paths import resolve_paths
    from agent.setup.home import init_home

    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(tmp_path / "home")})
    result = init_home(paths, [])
    identity = paths.keys_dir / "person.agekey"
    assert result.identity_where == str(identity)
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
