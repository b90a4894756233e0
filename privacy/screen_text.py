"""Text read off the screen, made fit for the typed-text detectors.

The OCR engine confuses shapes that the detectors tell apart: ``,`` for ``.`` and ``?``
for ``7`` inside an e-mail address, ``O`` for ``0`` and ``l``/``I``/``|`` for ``1``
between digits, and now and then a stray digit before a number (the edge of the label
beside it). Each of these let an identifier through in the end-to-end test (read back
by another engine), so the scrub runs the detectors over the text as read *and* as
corrected here, and masks what either finds. Corrections keep every character's
position (one character for one), so a match maps back to the words it covers.
"""

from __future__ import annotations

import re

from privacy import categories as cat
from privacy.spans import Span

_IN_ADDRESS = re.compile(r"[\w.,+?!|$-]+@[\w,.?!|$-]+")
# Glyphs the engine reads in place of an address's own: ``,`` for ``.``, and in a
# monospace font ``?`` for ``7`` (quill47 read quill4?: no address, and the name was
# stored readable in the end-to-end test), ``!`` or ``|`` for ``l``, ``$`` for ``s``.
_ADDRESS_GLYPH = str.maketrans({",": ".", "?": "7", "!": "l", "|": "l", "$": "s"})
_DIGIT_LOOKALIKE = re.compile(r"(?<=\d)[OoDQ](?=\d)|(?<=\d)[lI|!](?=\d)")
_LOOKALIKE_DIGIT = {"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "|": "1"}
_LOOKALIKE_DIGIT["!"] = "1"
# An SSN's shape with a digit too many or too few in a group: the engine doubles or drops
# a thin glyph (370-117-5179). A phone number of the same shape is masked too.
_SSN_SHAPE = re.compile(r"(?<![\w-])(\d{2,4})-(\d{2,3})-(\d{3,5})(?![\w-])")
# Groups of four digit-like characters, three or more in a row: a card or an IBAN laid out
# for reading, whatever the engine made of a glyph or two in it (DES? 5033 1647 3081).
_GROUPED = re.compile(
    r"(?<!\w)(?:[A-Z]{2}[\dA-Z?]{2} )?(?:[\dOoIl|?SB]{4} ){2,}[\dOoIl|?SB]{1,4}(?!\w)"
)
# A label naming an identifier, and the identifier-like tokens after it: the label makes
# the value sensitive even where the engine spoilt its checksum.
_LABEL = re.compile(
    r"(?i)\b(?:iban|ssn|sin|bsn|nino|account(?: (?:no|number))?|acct|a/c|sort code|routing|"
    r"card(?: (?:no|number))?|mrn|patient id|dob|date of birth|passport(?: no)?|"
    r"licen[cs]e(?: no)?|tax id|tin|svnr|steuer-?id)\b[:#.]?\s+"
)
# A token with a digit, or an IBAN's start whose check digits were misread as letters
# (DE38 read TES8): one of the two still a digit or unread (``MRN FROM`` is no value).
_VALUE_TOKEN = re.compile(r"[\w?./-]*\d[\w?./-]*|[A-Z]{2}(?:[\d?][\dA-Z?]|[\dA-Z?][\d?])")
_LABEL_CATEGORY = {
    "card": cat.PAYMENT_CARD,
    "card no": cat.PAYMENT_CARD,
    "card number": cat.PAYMENT_CARD,
    "passport": cat.PASSPORT,
    "passport no": cat.PASSPORT,
    "iban": cat.IBAN,
    "ssn": cat.SSN,
    "mrn": cat.MEDICAL_RECORD,
    "patient id": cat.MEDICAL_RECORD,
    "dob": cat.DATE_OF_BIRTH,
    "date of birth": cat.DATE_OF_BIRTH,
}
MAX_VALUE_TOKENS = 8
"""Tokens after a label taken as its value at most (an IBAN in groups of four: 8)."""


# Random shapes that are public, as the engine reads them: ``privacy.detect_public``
# recognises them by structure (a blob that decodes to its key type, bech32, a PNG
# header), which one misread glyph or a space the engine put inside breaks (age1 read
# agel, edc0bee read edcObee). Here the start is enough, and the region runs to a quote,
# a bracket, two spaces or the line's end.
_PUBLIC_START = re.compile(
    r"(?i:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-ssh-ed25519\S*)\s+AAAA"
    r"|(?i:data:(?:image|audio|video|font)/[\w.+-]+(?:;[\w=.-]+)*;base64,)"
    r"|(?<![A-Za-z0-9])(?i:sha(?:1|224|256|384|512)(?:sum)?|md5(?:sum)?|blake2b?)[-:=]"
    r"|(?<![A-Za-z0-9])age[1lI|][A-Za-z0-9 ]{40,}"
    r"|(?<![A-Za-z0-9+/])(?:iVBOR[wW][0O]KGg|/9j/|R[0O][lI1]GOD|UklGR|JVBERi)"
    r"|BEGIN PGP PUBLIC KEY BLOCK"
)
_PUBLIC_END = re.compile(r"[\"'()<>]|  ")
RANDOM_ONLY = frozenset({cat.HIGH_ENTROPY, cat.SECRET_KEY})
"""Categories found on randomness alone (no cue, no prefix, no checksum)."""
# Hex (a digest, a commit, a colour) once the engine's O for 0 and l for 1 are undone,
# and the spaces it put inside a long run taken out: the typed-text checks leave hex alone.
_FOLD = str.maketrans({"O": "0", "o": "0", "Q": "0", "l": "1", "I": "1", "|": "1", " ": None})
_HEX = re.compile(r"(?i)(?:0x)?[0-9a-f]+(?:[-:_][0-9a-f]+)*")


def public_regions(text: str) -> list[tuple[int, int]]:
    """[start, end) of the public random shapes in a line read off the screen."""
    out: list[tuple[int, int]] = []
    for match in _PUBLIC_START.finditer(text):
        end = _PUBLIC_END.search(text, match.end())
        out.append((match.start(), len(text) if end is None else end.start()))
    return out


def drop_public(text: str, spans: list[Span]) -> list[Span]:
    """``spans`` without the findings made on randomness alone (high entropy, a bare
    key) that are a public shape or hex as read off the screen. What a cue or a vendor
    prefix found stays (those are never second-guessed, as in typed text)."""
    regions = public_regions(text)
    return [
        s
        for s in spans
        if s.category not in RANDOM_ONLY
        or not (
            any(a <= s.start and s.end <= b for a, b in regions)
            or _HEX.fullmatch(text[s.start : s.end].translate(_FOLD))
        )
    ]


def corrected(text: str) -> str:
    """``text`` with the engine's usual confusions undone; the same length."""
    out = _IN_ADDRESS.sub(lambda m: m.group().translate(_ADDRESS_GLYPH), text)
    return _DIGIT_LOOKALIKE.sub(lambda m: _LOOKALIKE_DIGIT[m.group()], out)


def find_misread_identifiers(text: str) -> list[Span]:
    """Identifiers whose checksum or shape the engine spoilt, found by what is left: an
    SSN's shape give or take a digit, groups of four digit-like characters, and the
    identifier-like value after a label that names one (IBAN, SSN, MRN, account, ...)."""
    found = [
        Span(m.start(), m.end(), cat.SSN)
        for m in _SSN_SHAPE.finditer(text)
        # One digit doubled or dropped in all (3-3-4, 3-2-3), not an order number's 3-3-3.
        if sum(abs(len(g) - n) for g, n in zip(m.groups(), (3, 2, 4), strict=True)) <= 1
    ]
    found.extend(
        Span(m.start(), m.end(), cat.IBAN if m.group()[:2].isalpha() else cat.PAYMENT_CARD)
        for m in _GROUPED.finditer(text)
    )
    for label in _LABEL.finditer(text):
        position, end, taken = label.end(), label.end(), 0
        while taken < MAX_VALUE_TOKENS:
            token = _VALUE_TOKEN.match(text, position)
            if token is None:
                break
            end, taken = token.end(), taken + 1
            position = end + 1 if text[end : end + 1] == " " else end
            if position == end:
                break
        if taken:
            name = " ".join(label.group().lower().rstrip(":#. \t").split())
            category = _LABEL_CATEGORY.get(name, cat.CREDENTIAL)
            found.append(Span(label.end(), end, category))
    return found
