"""Text folding before matching: one form for every spelling of the same words.

Case and accents are folded (``Gehälter`` → ``gehalter``, ``ł`` → ``l``), invisible
characters are removed (Edge writes U+200B inside "Microsoft Edge"), and every
separator a file or site name uses (``_ - . / \\ | :`` and the like) becomes a space,
so ``lab_results_march.pdf`` reads as the words ``lab results march pdf``. Rules then
match whole words, with the plural and inflection tolerance of ``phrase_regex``.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Letters NFKD does not decompose into a base letter and a mark.
_LETTERS = str.maketrans(
    {"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ß": "ss", "æ": "ae",
     "œ": "oe", "ı": "i", "þ": "th"}
)  # fmt: skip
_NON_WORD = re.compile(r"[^a-z0-9@]+")


def _invisible_class() -> str:
    # Every format character (Unicode category Cf) of the Basic Multilingual Plane, and
    # the astral ones (tags, shorthand format controls), as a character class.
    chars = [chr(c) for c in range(0x80, 0x10000) if unicodedata.category(chr(c)) == "Cf"]
    return (
        "[" + "".join(re.escape(c) for c in chars) + "\U000e0001-\U000e007f\U0001bca0-\U0001bca3]"
    )


_INVISIBLE = re.compile(_invisible_class())
_SPACES = re.compile(r"[^\S ]|[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def strip_invisible(text: str) -> str:
    """``text`` without format characters (zero-width spaces, joiners, direction marks,
    BOMs) and with every kind of space as a plain space."""
    if not text.isascii():
        text = _INVISIBLE.sub("", text)
    return _SPACES.sub(" ", text)


@functools.lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """``text`` folded to lowercase ASCII words separated by single spaces.

    ``@`` survives so e-mail addresses stay recognisable (``jane@gmail com``). Cached:
    the same titles come back on every focus change.
    """
    text = strip_invisible(text).translate(_LETTERS)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    # A possessive is one word: "Jobseeker's Allowance" is "jobseekers allowance", as
    # its rules are written, not "jobseeker s allowance".
    text = _POSSESSIVE.sub(r"\1s", text)
    return " ".join(_NON_WORD.sub(" ", text).split())


_POSSESSIVE = re.compile(r"(\w)['\u2019]s\b")


# Endings that inflect a word in the packs' languages: English plurals, German, Dutch,
# French, Spanish, Italian and Polish plural and case endings.
_SUFFIX = r"(?:s|es|e|en|n|er|ern|i|y|a|ow|ami|ach)?"


def phrase_regex(phrase: str) -> str:
    """The regular expression (on folded text) for a rule's phrase.

    Words must match whole, each with an optional inflection ending; a word ending in
    ``*`` is a prefix (``psychiatr*`` matches ``psychiatrist``); ``#`` stands for any
    number. A phrase starting ``re:`` is a regular expression on folded text as is.
    """
    if phrase.startswith("re:"):
        return phrase[3:]
    words = fold(phrase.replace("*", " STAR ").replace("#", " NUM ")).split()
    parts: list[str] = []
    for word in words:
        if word == "star" and parts:
            parts[-1] = parts[-1].removesuffix(_SUFFIX) + r"[a-z0-9]*"
        elif word == "num":
            parts.append(r"\d+")
        else:
            parts.append(re.escape(word) + (_SUFFIX if word.isalpha() and len(word) > 3 else ""))
    return r"(?<![a-z0-9])" + " ".join(parts) + r"(?![a-z0-9])"
