"""Random-looking text that is meant to be shared: where the generic checks must not redact.

A high-entropy token alone is not a secret. These shapes are random but public, and are
recognised by their structure, not their look: base64 media (``data:image/...;base64,``,
or a pasted blob that decodes to a PNG, JPEG, GIF, WebP or PDF header), SSH public keys
(the blob decodes to its own key type), age recipients (``age1`` + bech32), PGP public key
blocks, Subresource Integrity and other ``sha256-``/``sha384:`` digests, container images pinned by
digest. ``detect`` drops
the high-entropy and bare 40-character-key findings inside these regions; a secret cue
("token=", "password:") or a vendor prefix still redacts, since those detectors are not
second-guessed.
"""

from __future__ import annotations

import base64
import binascii
import re

_DATA_URI = re.compile(
    r"(?i)data:(?:image|audio|video|font)/[\w.+-]+(?:;[\w=.-]+)*;base64,[A-Za-z0-9+/=_-]+"
)
_SSH_KEY_TYPES = (
    b"ssh-ed25519",
    b"ssh-rsa",
    b"ssh-dss",
    b"ecdsa-sha2-nistp256",
    b"ecdsa-sha2-nistp384",
    b"ecdsa-sha2-nistp521",
    b"sk-ssh-ed25519@openssh.com",
    b"sk-ecdsa-sha2-nistp256@openssh.com",
)
# An SSH public key blob starts with the length-prefixed name of its type: "AAAA".
_SSH_BLOB = re.compile(r"(?<![A-Za-z0-9+/])AAAA[A-Za-z0-9+/]{20,}={0,2}")
_AGE = re.compile(r"(?<![A-Za-z0-9])age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}(?![A-Za-z0-9])")
_PGP_PUBLIC = re.compile(
    r"(?s)-----BEGIN PGP PUBLIC KEY BLOCK-----.*?(?:-----END PGP PUBLIC KEY BLOCK-----|\Z)"
)
# PEM blocks that are public by definition: a public key, a certificate or its request.
_PEM_PUBLIC = re.compile(
    r"(?s)-----BEGIN ((?:RSA |EC |DSA )?PUBLIC KEY|CERTIFICATE|CERTIFICATE REQUEST"
    r"|X509 CRL)-----.*?(?:-----END \1-----|\Z)"
)
# A minisign or signify public key ("RW" + base64 of "Ed", key id and key) where the
# text names minisign/signify: published next to releases to verify them.
_MINISIGN = re.compile(r"(?<![A-Za-z0-9+/])RW[A-Za-z0-9+/]{50,54}={0,2}(?![A-Za-z0-9+/=])")
_DIGEST = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:sha(?:1|224|256|384|512)|md5|blake2b?|sha3-\d+)[-:=]"
    r"[A-Za-z0-9+/=_-]{16,}"
)
# A value its own name calls public: public_key = "…", "pubkey": "…", recipient: age1….
_NAMED_PUBLIC = re.compile(
    r"(?i)\b(?:(?:public|pub)[_-]?keys?|(?:öffentliche[rn]?|offentlig|julkinen)[ _-]?"
    r"(?:schl[üu]ssel|n[øo]gle|nyckel|n[øo]kkel|avain)|cl[ée][ _-]publique"
    r"|clave[ _-]p[úu]blica|chiave[ _-]pubblica|publieke[ _-]sleutel|chave[ _-]p[úu]blica"
    r"|klucz[ _-]publiczny)\b[\"']?(?:[ \t]*\([^()\n]{0,24}\))?\s*[:=]\s*[\"']?"
    r"([A-Za-z0-9+/=_-]{16,})"
)
# A base64 blob the text calls data (base64, b64, an attachment, image, icon, sample,
# payload, a certificate file): file content, not a secret, where no word of the text
# names a secret. A high-entropy look alone is not enough to redact it.
_DATA_NAME = re.compile(
    r"(?i)base64|b64|\bdata\b|payload|\bbody\b|thumb|avatar|icon|image|\bimg\b|logo|picture"
    r"|attach|anhang|anlage|adjunto|allegato|bijlage|pi[èe]ce[ _-]jointe|za[łl][aą]cznik"
    r"|sample|fixture|testdat|example|ejemplo|beispiel|exemple|esempio|voorbeeld"
    r"|\.crt\b|\.cer\b|certificate|zertifikat|content-transfer-encoding"
)
_SECRET_WORD = re.compile(
    r"(?i)secret|token|passw|passwd|pwd|api[_ -]?key|apikey|private|priv|credential|auth"
    r"|bearer|session|cookie|signing|hmac|salt|\bkey\b|_key\b|-key\b|\bkeys\b|schl[üu]ssel"
    r"|cl[ée]\b|clave|chiave|sleutel|geheim|mot de passe|contrase|senha"
)
_DECODE_COMMAND = re.compile(r"\bbase64[ \t]+(?:-d|-D|--decode)\b")
_PEM_PUBLIC_TEXT = (b"-----BEGIN CERTIFICATE", b"-----BEGIN PUBLIC KEY", b"-----BEGIN X509")
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
# Base64 decoded into a file (``echo '…' | base64 -d > fixture.bin``, ``base64 --decode
# <<< '…' > logo.png``): file content, judged public when it decodes to binary data and
# the file's name is not a key's (a key or a text secret decoded is still redacted).
_DECODED_TO_FILE = re.compile(
    r"(?:\b(?:echo|printf)[ \t]+(?:-\w+[ \t]+)*(['\"]?)(?P<a>[A-Za-z0-9+/_-]{16,}={0,2})\1"
    r"[ \t]*\|[ \t]*base64[ \t]+(?:-d|-D|--decode)\b"
    r"|\bbase64[ \t]+(?:-d|-D|--decode)[ \t]*<<<[ \t]*(['\"]?)(?P<b>[A-Za-z0-9+/_-]{16,}={0,2})\3)"
    r"[^|\n]*?>[ \t]*(?P<file>[^\s;|&]+)"
)
_SECRET_FILE = re.compile(
    r"(?i)key|secret|token|cred|pass|pem|p12|pfx|jks|keystore|id_|\.env|auth|cert|kube|conf"
)
# A container image pinned by digest: name, tag and digest are all public.
_IMAGE_REF = re.compile(r"[\w./-]+(?::[\w.-]+)?@sha256:[0-9a-f]{64}")
_BLOB = re.compile(r"(?<![A-Za-z0-9+/])(?:iVBORw0KGg|/9j/|R0lGOD|UklGR|JVBERi0)[A-Za-z0-9+/=]+")
_MEDIA_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"%PDF")
# Literals one of the shapes above holds: a few substring tests are much cheaper than
# one case-insensitive alternation.
_LITERALS = (
    "data:",
    "DATA:",
    "AAAA",
    "age1",
    "PUBLIC KEY",
    "sha",
    "SHA",
    "md5",
    "MD5",
    "blake",
    "iVBOR",
    "pub",
    "PUB",
    "Pub",
    "/9j/",
    "R0lGOD",
    "UklGR",
    "JVBERi0",
    "base64",
    "b64",
    "BEGIN",
    "RW",
    "ffentl",
    "offentlig",
    "julkinen",
    "blica",
    "bblica",
    "publiczny",
)


def _decodes_to(token: str, prefixes: tuple[bytes, ...]) -> bool:
    head = token[:64]
    head = head[: len(head) - len(head) % 4]
    try:
        raw = base64.b64decode(head, validate=True)
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(prefixes)


def _ssh_key_blob(token: str) -> bool:
    head = token[:64]
    head = head[: len(head) - len(head) % 4]
    try:
        raw = base64.b64decode(head, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) < 4:
        return False
    size = int.from_bytes(raw[:4], "big")
    return raw[4 : 4 + size] in _SSH_KEY_TYPES


def _binary(token: str) -> bool:
    """Whether base64 ``token`` decodes to bytes that are not text (a quarter or more
    outside printable ASCII and whitespace)."""
    padded = token.replace("-", "+").replace("_", "/").rstrip("=")
    padded += "=" * (-len(padded) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return False
    text_like = sum(32 <= b < 127 or b in (9, 10, 13) for b in raw)
    return len(raw) >= 12 and text_like < 0.75 * len(raw)


def public_regions(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each public random-looking region of ``text``."""
    if not any(literal in text for literal in _LITERALS):
        return []
    out = [m.span() for m in _DATA_URI.finditer(text)]
    out += [m.span() for m in _AGE.finditer(text)]
    out += [m.span() for m in _PGP_PUBLIC.finditer(text)]
    if "BEGIN" in text:
        out += [m.span() for m in _PEM_PUBLIC.finditer(text)]
    if "RW" in text and ("minisign" in text.lower() or "signify" in text.lower()):
        out += [m.span() for m in _MINISIGN.finditer(text)]
    out += [m.span() for m in _DIGEST.finditer(text)]
    out += [m.span() for m in _IMAGE_REF.finditer(text)]
    out += [m.span(1) for m in _NAMED_PUBLIC.finditer(text)]
    out += [m.span() for m in _SSH_BLOB.finditer(text) if _ssh_key_blob(m.group())]
    out += [m.span() for m in _BLOB.finditer(text) if _decodes_to(m.group(), _MEDIA_MAGIC)]
    if "base64" in text:
        for m in _DECODED_TO_FILE.finditer(text):
            group = "a" if m.group("a") is not None else "b"
            if not _SECRET_FILE.search(m.group("file")) and _binary(m.group(group)):
                out.append(m.span(group))
    return out


def data_regions(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each base64 run of ``text`` when the text calls it data (an
    attachment, image, sample, payload, certificate file, "base64") and names no secret.
    ``detect`` asks only when a finding rests on randomness alone."""
    if _DATA_NAME.search(text) is None or _SECRET_WORD.search(text) is not None:
        return []
    if _DECODE_COMMAND.search(text):
        return []  # a shell decode: _DECODED_TO_FILE judges it by where the bytes go
    # Binary content, or a certificate or public key (PEM text): a decoded text could be
    # a password, so it stays a possible secret.
    return [
        m.span()
        for m in _BASE64_RUN.finditer(text)
        if _binary(m.group()) or _decodes_to(m.group(), _PEM_PUBLIC_TEXT)
    ]
