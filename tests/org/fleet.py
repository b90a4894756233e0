"""Made-up fleet uploads for the `org build` tests: sessions sealed by the real writer.

Each chunk holds what a person's minute holds: the focused window, a key frame (a real
WebP, its colour telling the chunk), a click, a typed word, a password the privacy
filters redacted, a scroll, and one frame stamped before the click that arrives after
it (arrival order is not time order). Chunks are laid out as the folder transport and
the S3 store lay them: ``<org>/<device>/<session>/<seq>.chunk`` with its ``.meta``.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from capture.events import Event, Frame, Key, MouseButton, Scroll, Window
from storage.keys import public_key_text
from storage.writer import ChunkWriter

ORG = "acme"
T0 = 1_767_225_600.0


def webp(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    """A small lossless WebP of one colour."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "WEBP", lossless=True)
    return buffer.getvalue()


class Fleet:
    """Devices' keys and a staging folder of sealed chunks, copied into a store on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.identity = pyrage.x25519.Identity.generate()
        self.identity_file = root / "organisation.agekey"
        root.mkdir(parents=True, exist_ok=True)
        self.identity_file.write_text(f"# test organisation\n{self.identity}\n")
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.staging = root / "staging"

    def device_key(self, device: str) -> str:
        """The device's public signing key, as `--device-key` takes it."""
        return public_key_text(self._key(device).public_key())

    def _key(self, device: str) -> Ed25519PrivateKey:
        return self.keys.setdefault(device, Ed25519PrivateKey.generate())

    def record(self, device: str, session: str, chunks: int, start: float = T0) -> None:
        """Seal ``chunks`` chunks of a session into the staging folder."""
        writer = ChunkWriter(
            self.staging / ORG / device,
            device,
            session,
            [str(self.identity.to_public())],
            self._key(device),
        )
        seq = 0
        for n in range(chunks):
            t = start + n * 30.0
            late_frame = t + 2.0
            events: list[Event] = [
                Window(ts=t, mono=t, title=f"Invoice {n} - Editor", app="gedit"),
                Frame(ts=t + 0.1, mono=t, width=64, height=48, image=webp((n * 40 % 256, 90, 200))),
                MouseButton(ts=t + 1.0, mono=t, x=10 + n, y=20, button="left", pressed=True),
                MouseButton(ts=t + 1.05, mono=t, x=10 + n, y=20, button="left", pressed=False),
                *[
                    Key(ts=t + 3.0 + i * 0.1, mono=t, key=c, pressed=True, char=c)
                    for i, c in enumerate("ok")
                ],
                # Stamped before the keys above it, queued after them.
                Frame(
                    ts=late_frame,
                    mono=t,
                    width=64,
                    height=48,
                    image=webp((10, n * 40 % 256, 10)),
                    trigger="click",
                    number=1,
                ),
                Key(ts=t + 5.0, mono=t, key="x", pressed=True, char=None, redacted="password"),
                Key(ts=t + 5.1, mono=t, key="y", pressed=True, char=None, redacted="password"),
                Scroll(ts=t + 7.0, mono=t, x=30, y=30, dx=0, dy=-2),
                Key(ts=t + 8.0, mono=t, key="enter", pressed=True),
            ]
            for event in events:
                writer.add(seq, event)
                seq += 1
            assert writer.seal() is not None

    def publish(self, store: Path, device: str, session: str, seqs: range) -> list[Path]:
        """Copy chunks ``seqs`` of a session (and their records) into a folder store."""
        copied = []
        for seq in seqs:
            for suffix in (".chunk", ".meta"):
                source = self.staging / ORG / device / session / f"{seq:06d}{suffix}"
                target = store / ORG / device / session / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                copied.append(target)
        return copied

    def objects(self, device: str, session: str) -> dict[str, bytes]:
        """Object key -> bytes of every staged chunk and record of a session."""
        folder = self.staging / ORG / device / session
        return {
            f"{ORG}/{device}/{session}/{path.name}": path.read_bytes()
            for path in sorted(folder.iterdir())
            if path.suffix in (".chunk", ".meta")
        }
