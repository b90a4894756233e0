"""Detectors: find secrets and personal identifiers in a piece of typed text.

Each detector is a function ``text -> list[Span]``; ``detect`` runs them all and
merges the result into sorted, non-overlapping spans. Detectors see plain strings
only and never log them. Structured identifiers are validated by their checksum
(python-stdnum) or numbering plan (phonenumbers) so that ordinary numbers are left
alone; see docs/PRIVACY.md for what is and is not caught.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from privacy import categories as cat
from privacy import detect_health, detect_identity, detect_national_id, detect_passwords
from privacy import detect_words as words
from privacy.detect_health import (
    find_birth_dates_in_fields,
    find_clinical_terms,
    find_dates_of_birth,
    find_medical_records,
)
from privacy.detect_identity import find_identity_documents
from privacy.detect_national_id import find_national_ids
from privacy.detect_passwords import find_prose_passwords
from privacy.detect_public import data_regions, public_regions
from privacy.entropy import high_entropy_spans, looks_random
from privacy.spans import Span as Span  # re-exported: detectors return it

# python-stdnum and phonenumbers are imported where a candidate needs checking, not with
# this module: their imports cost memory and start-up time (docs/PERFORMANCE.md, Figures
# behind choices in the code), while most typed text holds no candidate at all.
DEFAULT_PHONE_REGION = "US"


Detector = Callable[[str], list[Span]]
"""A detector: text in, the spans it finds out (possibly overlapping, any order)."""


# --- tokens with a recognisable shape -------------------------------------------------

_TOKEN_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), category)
    for pattern, category in (
        (
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}"
            r"(?![A-Za-z0-9])",
            cat.AWS_KEY,
        ),
        (
            r"(?<![A-Za-z0-9_])(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}(?![A-Za-z0-9_])",
            cat.GITHUB_TOKEN,
        ),
        (r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,}", cat.GITHUB_TOKEN),
        (r"(?<![A-Za-z0-9])xox[abposre]-[A-Za-z0-9-]{10,}", cat.SLACK_TOKEN),
        (r"(?<![A-Za-z0-9])xapp-\d-[A-Za-z0-9-]{10,}", cat.SLACK_TOKEN),
        (r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}", cat.SLACK_TOKEN),
        (r"(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", cat.STRIPE_KEY),
        (r"(?<![A-Za-z0-9_])whsec_[A-Za-z0-9]{24,}", cat.STRIPE_KEY),
        (r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])", cat.GOOGLE_KEY),
        (r"(?<![A-Za-z0-9_-])ya29\.[0-9A-Za-z_-]{20,}", cat.GOOGLE_KEY),
        (r"(?<![A-Za-z0-9_-])GOCSPX-[0-9A-Za-z_-]{20,}", cat.GOOGLE_KEY),
        (r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", cat.JWT),
        (r"(?<![A-Za-z0-9_-])sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}", cat.API_TOKEN),
        (r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}", cat.API_TOKEN),
        (r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])", cat.API_TOKEN),
        (r"(?<![A-Za-z0-9_-])pypi-[A-Za-z0-9_-]{50,}", cat.API_TOKEN),
        (r"(?<![A-Za-z0-9_.-])SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}", cat.API_TOKEN),
    )
)
# Every pattern above needs one of these literals (case-sensitive, like the patterns): a
# text holding none of them cannot match any, so one search spares the other seventeen.
_TOKEN_LITERALS = re.compile(
    r"AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA|gh[pousr]_|github_pat_|xox|xapp-"
    r"|hooks\.slack\.com|k_live_|k_test_|whsec_|AIza|ya29\.|GOCSPX-|eyJ|sk-|glpat-|npm_"
    r"|pypi-|SG\."
)
# A PEM private key block, up to its END line or, typed without one, to the end of text.
_PEM_PRIVATE = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
    re.DOTALL,
)

# An AWS secret access key: exactly 40 base64 characters with mixed classes.
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def find_tokens(text: str) -> list[Span]:
    """API keys, tokens and private key blocks, recognised by their published prefixes."""
    out: list[Span] = []
    if _TOKEN_LITERALS.search(text) is not None:
        for pattern, category in _TOKEN_PATTERNS:
            out.extend(Span(m.start(), m.end(), category) for m in pattern.finditer(text))
    if "PRIVATE KEY" in text:
        out.extend(Span(m.start(), m.end(), cat.PRIVATE_KEY) for m in _PEM_PRIVATE.finditer(text))
    for m in _AWS_SECRET.finditer(text):
        s = m.group()
        if (
            any(c.isupper() for c in s)
            and any(c.islower() for c in s)
            and any(c.isdigit() for c in s)
            and looks_random(s)
        ):
            out.append(Span(m.start(), m.end(), cat.SECRET_KEY))
    return out


# --- credentials written as key/value or inside URLs ----------------------------------

_URL_CREDENTIAL = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://([^\s:/@]+:[^\s/@]+)@[A-Za-z0-9.\-\[\]]"
)

_SECRET_NAME = (
    r"(?:[A-Za-z0-9]+[_.-])*"
    # a short prefix glued to the long password words: PGPASSWORD, DBPASSWD, MYPASSPHRASE
    r"(?:[A-Za-z0-9]{1,10}(?=pass(?:word|wd|phrase)|PASS(?:WORD|WD|PHRASE)))?"
    r"(?:password|passwd|passphrase|passcode|pwd|pass|secret|token|api[_-]?key|apikey"
    r"|access[_-]?key|private[_-]?key|client[_-]?secret|auth|credentials?|key)"
)
# NAME=value (shell, .env, query strings, config) or NAME: value (YAML, prose).
_ASSIGN_UNQUOTED = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:export\s+)?"
    + _SECRET_NAME
    + r"(?:=|:[ \t]*)(?![=\s\"'])((?:[^\s&;\"'`,]|&(?![A-Za-z_][\w.-]*=))+)"
)
# NAME = "literal" / NAME: 'literal' / "NAME": "literal" (code, JSON).
_ASSIGN_QUOTED = re.compile(
    r"(?i)(?<![A-Za-z0-9])"
    + _SECRET_NAME
    + r"[\"']?\s*(?:=|:)\s*(?:[rbuf]?)([\"'])((?:(?!\1).){1,200})\1"
)
# "my password is X", "PIN: X"
_PASSWORD_IS = re.compile(
    r"(?i)\b(?:password|passwd|passphrase|passcode|pin)\s+(?:is|was)\s*:?\s+(\S+)"
)
# Names that are not secrets although they end in "key"/"pass"/"auth".
_NOT_SECRET_NAMES = re.compile(
    r"(?i)^(?:export\s+)?(?:.*[_.-])?(?:primary|foreign|sort|partition|hash|public|pub|ssh_pub"
    r"|by|bypass|compass|keyboard|monkey|turkey|hotkey)[_.-]?(?:key)?$"
)
_CODE_WORDS = frozenset(
    {
        "raise",
        "return",
        "pass",
        "continue",
        "break",
        "yield",
        "await",
        "self",
        "None",
        "True",
        "False",
        "if",
        "else",
        "not",
        "and",
        "or",
        "in",
        "is",
        "lambda",
        "new",
        "this",
        "const",
        "let",
        "var",
        "function",
        "throw",
    }
)
_PLACEHOLDERS = frozenset(
    {
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "required",
        "optional",
        "str",
        "string",
        "int",
        "bytes",
        "env",
        "xxx",
        "****",
        "...",
        "<redacted>",
        "changeme?",
    }
)

# A value that names where the secret is kept instead of holding it: a CI or template
# expression (``${{ secrets.API_KEY }}``, ``{{ vault_pw }}``), a shell or environment
# variable in capitals (``$DB_PASSWORD``, ``${DB_PASSWORD}``, ``%API_KEY%``).
_REFERENCE = re.compile(
    r"\$\{\{.*|\{\{.*|\$\{[A-Za-z_][A-Za-z0-9_]*(?:[:?=-][^}]*)?\}|\$[A-Z_][A-Z0-9_]*"
    r"|%[A-Z_][A-Z0-9_]*%|\$\(.*|`.*"  # also a command that fetches it: "$(vault kv get ...)"
)

# A word before "key" that makes it a lookup key, not a secret ("cache key: …").
_NOT_SECRET_BEFORE = re.compile(
    r"(?i)(?<![A-Za-z])(?:cache|sort|primary|foreign|partition|hash|lookup|routing|object"
    r"|idempotency|dedup(?:lication)?|row|map|index|registry)[ \t]+\Z"
)

# Commands whose -p / -P / -a option takes a password, and --password-like long options.
_OPTION_PASSWORD = re.compile(
    r"(?x)"
    r"(?:\b(?:mysql|mariadb|mysqldump|mysqladmin)\b[^\n]*?\s-p(?!\s)(\S+))"
    r"|(?:\bsshpass\s+-p\s*(\S+))"
    r"|(?:\b(?:docker|podman|helm|buildah|skopeo)\s+(?:registry\s+)?login\b[^\n]*?\s-p\s+(\S+))"
    r"|(?:\b(?:zip|unzip)\b[^\n]*?\s-P\s+(\S+))"
    r"|(?:\b7z[a-z]?\b[^\n]*?\s-p(?!\s)(\S+))"
    r"|(?:\bredis-cli\b[^\n]*?\s-a\s+(\S+))"
    r"|(?:\s--(?:password|passwd|pass|passphrase|token|secret|api-key|apikey|auth-token"
    r"|client-secret)(?:=|\s+)(?!-)(\S+))"
)


_PASSWORD_IS_CUES = words.cues("pass pin")


def find_credentials(text: str) -> list[Span]:
    """Passwords and secrets written as ``name=value``, ``--password X``, or in URLs."""
    out: list[Span] = []
    # Every pattern below needs "=", ":" (also of "://") or "-" (an option), except
    # "password is X", which needs its word: plain prose is spared all of them.
    if (
        "=" not in text
        and ":" not in text
        and "-" not in text
        and not words.has_cue(text, _PASSWORD_IS_CUES)
    ):
        return out
    for m in _URL_CREDENTIAL.finditer(text):
        out.append(Span(m.start(1), m.end(1), cat.URL_CREDENTIAL))
    for m in _ASSIGN_UNQUOTED.finditer(text):
        name = m.group(0)[: m.start(1) - m.start(0)].rstrip(":= \t")
        value = m.group(1)
        if _NOT_SECRET_NAMES.match(name) or value.lower() in _PLACEHOLDERS:
            continue
        if m.group(0)[len(name) :].startswith(":") and (
            _looks_like_code_value(value) or value in _CODE_WORDS
        ):
            continue
        if "://" in value:  # a URL as the value: the URL detector judges it
            continue
        if _REFERENCE.match(value) or value.startswith(("./", "../", "~/")):
            continue  # where the secret is kept (a variable, a command, a file), not it
        if name.lower() == "key" and _NOT_SECRET_BEFORE.search(text, 0, m.start()):
            continue
        out.append(Span(m.start(1), m.end(1), cat.CREDENTIAL))
    for m in _ASSIGN_QUOTED.finditer(text):
        name = m.group(0).split("=")[0].split(":")[0].strip("\"' \t")
        if _NOT_SECRET_NAMES.match(name) or m.group(2).lower() in _PLACEHOLDERS:
            continue
        if _REFERENCE.fullmatch(m.group(2)):
            continue
        out.append(Span(m.start(2), m.end(2), cat.CREDENTIAL))
    for m in _PASSWORD_IS.finditer(text):
        value = m.group(1).rstrip(".,;:)]}\"'")  # the sentence's punctuation, not the value's
        if not value or (value.isalpha() and (value.islower() or value.istitle())):
            continue  # "the password is stored in the vault": prose, not a password
        out.append(Span(m.start(1), m.start(1) + len(value), cat.CREDENTIAL))
    for m in _OPTION_PASSWORD.finditer(text):
        for group in range(1, (m.lastindex or 0) + 1):
            if m.group(group):
                out.append(Span(m.start(group), m.end(group), cat.CREDENTIAL))
    return out


def _looks_like_code_value(value: str) -> bool:
    # "password: str", "key: Optional[str]" in type annotations and dict literals.
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*(?:\[.*\])?[,)]?", value)) and (
        value[:1].isupper() or "[" in value or value.endswith((",", ")"))
    )


# --- personal and financial identifiers -----------------------------------------------

# 12-19 digits, either contiguous or in groups separated by one consistent space or dash.
_CARD = re.compile(
    r"(?<![\d.,/-])(?:\d{12,19}|\d{4}([ -])\d{4,6}\1\d{4,5}(?:\1\d{1,4}){0,2})"
    r"(?![\d/-]|[.,]\d)"
)
_CARD_GROUPINGS = frozenset(
    {
        (4, 4, 4, 4),
        (4, 4, 4, 4, 3),
        (4, 6, 5),
        (4, 6, 4),
        (4, 4, 4, 1),
        (4, 4, 4, 2),
        (4, 4, 4, 3),
        (4, 4, 4, 4, 1),
        (4, 4, 4, 4, 2),
        (4, 4, 5),
        (4, 4, 4),
    }
)


def _card_brand_lengths(digits: str) -> tuple[int, ...]:
    """Lengths valid for the card scheme ``digits`` starts with (empty: no scheme)."""
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return (16,)
    if two in (34, 37):
        return (15,)
    if four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925:
        return (16, 17, 18, 19)
    if 3528 <= four <= 3589:
        return (16, 17, 18, 19)
    if 300 <= int(digits[:3]) <= 305 or two in (36, 38, 39):
        return (14, 15, 16, 17, 18, 19)
    if two == 62 or two == 81:
        return (16, 17, 18, 19)
    if two == 50 or 56 <= two <= 69:  # Maestro: 12-15 digit ones exist but are rare
        return (16, 17, 18, 19)
    if two == 22 and int(digits[:3]) == 220:  # Mir
        return (16, 17, 18, 19)
    return ()


# A card named as one just before the number ("card number", "Kartennummer", "numéro de
# carte", "número de tarjeta", "carta", "kaart", "cartão", a scheme's name): then a Luhn-valid
# number of a card's length is taken even when its prefix is of no scheme we know.
_CARD_LABEL = re.compile(
    r"(?i)(?:card|karte|kartennummer|carte|tarjeta|carta|kaart|cart[ãa]o|kreditkarte|visa"
    r"|master\s*card|amex|discover|cc)\b[^\d\n]{0,24}\Z"
)
_CARD_LABEL_CUES = words.cues("card kart cart tarj kaar kred visa mast amex disc cc")


def find_payment_cards(text: str) -> list[Span]:
    """Payment card numbers: a known scheme prefix and length (or a card label before
    the number), a valid Luhn check digit."""
    out: list[Span] = []
    if not words.has_digit(text):
        return out
    for m in _CARD.finditer(text):
        raw = m.group()
        sep = m.group(1)
        if sep:
            groups = tuple(len(g) for g in raw.split(sep))
            if groups not in _CARD_GROUPINGS:
                continue
        digits = raw.replace(" ", "").replace("-", "")
        if len(digits) not in _card_brand_lengths(digits) and not (
            13 <= len(digits) <= 19
            and words.has_cue(text, _CARD_LABEL_CUES)
            and _CARD_LABEL.search(text, max(0, m.start() - 40), m.start()) is not None
        ):
            continue
        from stdnum import luhn

        if luhn.is_valid(digits):
            out.append(Span(m.start(), m.end(), cat.PAYMENT_CARD))
    return out


_SSN_DELIMITED = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SSN_BARE = re.compile(r"(?<!\d)\d{9}(?!\d)")
_SSN_CONTEXT = re.compile(
    r"(?i)(?:ssn|social security|ss#|soc\.? sec|tin|itin|taxpayer|tax\s*id|tax\s+number)\W{0,4}"
    r"(?:\w+\W+){0,2}$"
)


def find_ssns(text: str) -> list[Span]:
    """US Social Security numbers: 123-45-6789 anywhere, nine bare digits after "SSN"."""
    out: list[Span] = []
    if not words.has_digit(text):
        return out
    for m in _SSN_DELIMITED.finditer(text):
        if _ssn_valid(m.group(1) + m.group(3) + m.group(4)):
            out.append(Span(m.start(), m.end(), cat.SSN))
    for m in _SSN_BARE.finditer(text):
        before = text[max(0, m.start() - 30) : m.start()]
        if _SSN_CONTEXT.search(before) and _ssn_valid(m.group()):
            out.append(Span(m.start(), m.end(), cat.SSN))
    return out


def _ssn_valid(number: str) -> bool:
    from stdnum.us import ssn

    return bool(ssn.is_valid(number))


_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){10,32}(?![A-Za-z0-9])")
_IBAN_GROUPED = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: [A-Za-z0-9]{4}){2,7}"
    r"(?: [A-Za-z0-9]{1,3})?(?![A-Za-z0-9])"
)


def find_ibans(text: str) -> list[Span]:
    """International bank account numbers with a valid country format and mod-97 check."""
    out: list[Span] = []
    if not words.has_digit(text):
        return out
    seen: set[tuple[int, int]] = set()
    for pattern in (_IBAN_GROUPED, _IBAN):
        for m in pattern.finditer(text):
            raw = m.group()
            # A contiguous match may run into the next word; trim to the longest valid prefix.
            for end in range(len(raw), 14, -1):
                candidate = raw[:end].rstrip()
                if end < len(raw) and raw[end - 1] == " ":
                    continue
                if _iban_valid(candidate):
                    key = (m.start(), m.start() + len(candidate))
                    if key not in seen:
                        seen.add(key)
                        out.append(Span(key[0], key[1], cat.IBAN))
                    break
                if pattern is _IBAN_GROUPED:
                    break
    return out


def _iban_valid(candidate: str) -> bool:
    """The IBAN's mod-97 check and its country's length and format. The national check
    digits inside the BBAN (Spain's, Belgium's, ...) are not required: a number typed
    with them wrong is still someone's account number, and fakes seldom compute them."""
    from stdnum import iban as stdnum_iban

    try:
        stdnum_iban.validate(candidate, check_country=False)
    except ValueError:
        return False
    return True


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})\b"
)
_EMAIL_NOT_PERSONAL = frozenset({"git"})
_URL_USERINFO = re.compile(r"://[^\s/@]*\Z")
_SSH_LINE = re.compile(
    r"(?:^|[\n;&|])\s*(?:sudo\s+)?(?:ssh|scp|sftp|rsync|mosh|ssh-copy-id|sshfs)"
    r"\b[^\n]*\Z"
)


def find_emails(text: str) -> list[Span]:
    """E-mail addresses (``git@host:repo`` remotes excepted)."""
    if "@" not in text:
        return []
    out: list[Span] = []
    for m in _EMAIL.finditer(text):
        if m.group(1).lower() in _EMAIL_NOT_PERSONAL:
            continue
        if _URL_USERINFO.search(text, max(0, m.start() - 80), m.start()):
            continue  # the user info of scheme://user:pass@host, not an address
        if _SSH_LINE.search(text, 0, m.start()):
            continue  # user@host of an ssh command: a login, not an address
        out.append(Span(m.start(), m.end(), cat.EMAIL))
    return out


_PHONE_CONTEXT = re.compile(
    r"(?i)(?:phone|tel|mobile|cell|call|text me|sms|whatsapp|fax|"
    r"ring|reach me|contact)\W{0,3}(?:\w+\W+){0,2}$"
)
# Words that say a number is a phone number, in several languages: after one, a number
# that is merely possible in a common region (a national form without a country code,
# a fictional range) is taken too.
_PHONE_WORDS = (
    r"(?i)\b(?:phone|tel|mobile|cell|call(?:\s+me)?|text\s+me|sms|whatsapp|signal|fax"
    r"|ring|reach\s+me|contact|handy\w*|ruf|zadzwo\w*|dzwo\w*|zap|zapzap|soita\w*|puhelin\w*"
    r"|ring\s+(?:meg|mig|til)|mobil\w*|celular|zavolej\w*|telefonnummer|anrufen|erreichbar"
    r"|telefon|nummer|appelle[rz]?"
    r"|joindre|portable|ll[áa]m(?:a|ame|ar)|m[óo]vil|tel[ée]fono|chiama(?:mi)?|cellulare|bel"
    r"|mobiel|telefone|liga|kontakt|contatto|contacto|t[ée]l|t[ée]l[ée]phone|tel[ée]fono"
    # "my number is ...": a number one gives as one's own is a phone number
    r"|(?:my|mi|mon|ma|mein|meine|mijn|meu|il\s+mio|nuestro|notre|unsere)\s+"
    r"(?:number|n[úu]mero|num[ée]ro|nummer|numero))\b"
)
_PHONE_CUE = re.compile(_PHONE_WORDS + r"\w*\W{0,3}(?:\w+\W+){0,3}$")
_PHONE_CUE_ANYWHERE = re.compile(_PHONE_WORDS)
# A national number written as people write phone numbers: the trunk "0", then groups
# ("07700 900123", "030 1234 5678"). Taken without a cue when possible in a region.
_TRUNK_GROUPED = re.compile(r"(?<![\w.,/-])0\d{1,4}(?:[ -]\d{2,8}){1,3}(?![\w.,/-])")
# A seven-digit local number ("555-0134"): taken only right after a phone cue.
_LOCAL_NUMBER = re.compile(r"(?<![\w.,/+-])\d{3}[-. ]\d{4}(?![\w/-]|[.,]\d)")
_PHONE_REGIONS = (
    "GB",
    "DE",
    "FR",
    "ES",
    "IT",
    "NL",
    "AT",
    "CH",
    "BE",
    "PT",
    "IE",
    "PL",
    "NO",
    "DK",
    "SE",
    "FI",
    "CZ",
    "BR",
    "TR",
)
# An order, invoice, ticket or booking label just before a number: its number, not a
# phone's ("Pedido nº 2026-000781", "Bestellung 0341 22 9981").
_ORDER_LABEL = re.compile(
    r"(?i)\b(?:order|orders|bestellung|bestellnummer|auftrag\w*|commande|pedido|ordine|bestelling"
    r"|zam[óo]wieni\w*|objedn[áa]vk\w*|sipari[şs]\w*|tilaus\w*|invoice|rechnung|facture|factura"
    r"|fattura|factuur|ticket|tracking|sendung\w*|booking|buchung|r[ée]servation|reserva\w*"
    r"|prenotazione|boeking)\b[^\n\d]{0,12}\Z"
)


# Eight digits as Nordic numbers are written ("967 09 257", "22 33 44 55", "40123456").
_EIGHT_DIGITS = re.compile(r"\d{2,3}(?:[ .-]?\d{2,3}){2,3}")
# A date written with spaces or dashes ("2024 12 31"): possible as a number, not a phone.
_DATE_LIKE = re.compile(r"(?:19|20)\d\d[ ./-]\d\d?(?:[ ./-]?\d\d?)?")


def _order_number(text: str, start: int) -> bool:
    """Whether the number at ``start`` follows an order/invoice/ticket label."""
    return _ORDER_LABEL.search(text, max(0, start - 32), start) is not None


class PhoneFinder:
    """Phone numbers valid in their numbering plan, as phonenumbers finds them.

    ``region`` is where numbers written without a country code are assumed to be
    ("US" by default). Bare digit runs without "+" or any separator are taken only
    after a word like "phone" or "call": on their own they are far more often order
    numbers, ids or timestamps.
    """

    def __init__(self, region: str = "US") -> None:
        self.region = region

    def __call__(self, text: str) -> list[Span]:
        """The phone numbers in ``text``."""
        if not words.has_digit(text):
            return []
        digits = sum(ch.isdigit() for ch in text)
        if digits < 7:
            return []
        import phonenumbers
        from phonenumbers import Leniency, PhoneNumberMatcher

        out: list[Span] = []
        for match in PhoneNumberMatcher(text, self.region, leniency=Leniency.POSSIBLE):
            raw = match.raw_string
            if (
                match.start > 0
                and (text[match.start - 1].isalnum() or text[match.start - 1] in "-#/_.:")
            ) or (match.end < len(text) and (text[match.end].isalnum() or text[match.end] in "-_")):
                continue  # part of an identifier such as PO-2024-123456 or a UUID
            # Valid in its numbering plan, or written in full international form.
            if not (phonenumbers.is_valid_number(match.number) or raw.startswith("+")):
                continue
            if _version_like(raw) or _order_number(text, match.start):
                continue
            if raw.isdigit():
                before = text[max(0, match.start - 30) : match.start]
                if not _PHONE_CONTEXT.search(before):
                    continue
            out.append(Span(match.start, match.end, cat.PHONE))
        cue = _PHONE_CUE_ANYWHERE.search(text) is not None
        if (digits >= 9 or (cue and digits >= 8)) and (cue or _TRUNK_GROUPED.search(text)):
            out.extend(self._national(text, out))
        if cue:
            for m in _LOCAL_NUMBER.finditer(text):
                if any(s.start < m.end() and m.start() < s.end for s in out):
                    continue
                if _PHONE_CUE.search(text[max(0, m.start() - 40) : m.start()]):
                    out.append(Span(m.start(), m.end(), cat.PHONE))
        return out

    def _national(self, text: str, found: list[Span]) -> list[Span]:
        """Numbers right after a phone cue that are possible in a common region."""
        import phonenumbers
        from phonenumbers import Leniency, PhoneNumberMatcher

        out: list[Span] = []
        for region in _PHONE_REGIONS:
            if region == self.region:
                continue
            for match in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
                if any(s.start < match.end and match.start < s.end for s in found):
                    continue
                inside = [s for s in out if s.start < match.end and match.start < s.end]
                if any(s.end - s.start >= match.end - match.start for s in inside):
                    continue  # another region's reading is as long: keep it
                if match.start > 0 and not text[match.start - 1].isspace():
                    continue
                if match.end < len(text) and (text[match.end].isalnum() or text[match.end] in "-_"):
                    continue
                before = text[max(0, match.start - 40) : match.start]
                raw = match.raw_string
                trunk = (
                    _TRUNK_GROUPED.fullmatch(raw) is not None
                    and 10 <= sum(ch.isdigit() for ch in raw) <= 11
                )
                # Nine digits at least: without a country code no European number
                # has fewer, while figures in prose ("3.72 µs ... 3.8") often do.
                cued = _PHONE_CUE.search(before) is not None
                # Eight right after a phone cue: Nordic numbers have eight digits.
                count = sum(ch.isdigit() for ch in match.raw_string)
                if count < 9 and not (cued and count == 8 and _EIGHT_DIGITS.fullmatch(raw)):
                    continue
                if _order_number(text, match.start) or _DATE_LIKE.fullmatch(raw):
                    continue
                if (trunk or cued) and phonenumbers.is_possible_number(match.number):
                    out = [s for s in out if s not in inside]
                    out.append(Span(match.start, match.end, cat.PHONE))
        return out


def _version_like(raw: str) -> bool:
    """Digits parted by dots alone with a one-digit part (``126.0.6478.126``): a version
    or an address, never how a phone number is written (``202.555.0143`` is)."""
    if not re.fullmatch(r"\d+(?:\.\d+)+", raw):
        return False
    return any(len(part) == 1 for part in raw.split("."))


def _phone_region_ok(region: str) -> bool:
    if region == DEFAULT_PHONE_REGION:
        return True  # known good: the default needs no import of phonenumbers to check
    import phonenumbers

    return region in phonenumbers.SUPPORTED_REGIONS


# --- all together ---------------------------------------------------------------------


def default_detectors(phone_region: str = "US") -> list[Detector]:
    """The detectors ``detect`` runs, most specific first."""
    if not _phone_region_ok(phone_region):
        raise ValueError(f"unknown phone region {phone_region!r}")
    return [
        find_tokens,
        find_credentials,
        find_payment_cards,
        find_ssns,
        find_ibans,
        find_emails,
        # Labelled ones before the phone finder: where a phone-shaped number follows a
        # label ("NHS number 943 476 5919"), the label names its category.
        find_prose_passwords,
        find_dates_of_birth,
        find_birth_dates_in_fields,
        find_medical_records,
        find_identity_documents,
        find_national_ids,  # after health: a NIR or SVNR after a health label is a record
        find_clinical_terms,
        PhoneFinder(phone_region),
    ]


_DEFAULT: list[Detector] = default_detectors()


def detect(
    text: str, detectors: Iterable[Detector] | None = None, entropy: bool = True
) -> list[Span]:
    """Every sensitive span in ``text``, sorted and merged so that none overlap.

    Where spans of different categories overlap, the merged span takes the category of
    the one that starts first (the specific detectors run before the generic ones).
    The high-entropy detector runs last, over the parts nothing else claimed.
    """
    found: list[Span] = []
    for detector in _DEFAULT if detectors is None else detectors:
        found.extend(detector(text))
    if entropy:
        found.extend(high_entropy_spans(text, merge_spans(found)))
    public = public_regions(text)
    if any(_only_random(s) for s in found):
        public += data_regions(text)
    if public:
        found = [s for s in found if not _only_random(s) or not _inside(s, public)]
    found = [
        s for s in found if s.category != cat.HIGH_ENTROPY or not _code_name(text[s.start : s.end])
    ]
    return merge_spans(found)


# Findings made on randomness alone: a public random shape (a key, a digest) is not them.
_RANDOM_ONLY = frozenset({cat.HIGH_ENTROPY, cat.SECRET_KEY})


# A dotted name of code (``base64.b64decode``, ``os.path.join``): random-looking to the
# entropy check for its short mixed runs, but every part starts with a letter.
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


# A lower-case name joined by "/" or "-" with a word in it (``deploy/api-7f9c8d``,
# ``worker-3b9f1c``): a resource name with a generated suffix, not a secret.
_KEBAB_PART = re.compile(r"[/-]")
_HEX_DIGEST = re.compile(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}")


def _code_name(token: str) -> bool:
    """Whether a random-looking ``token`` is a name from code or operations."""
    if _DOTTED_NAME.fullmatch(token):
        return True
    if any(c.isupper() for c in token) or not _KEBAB_PART.search(token):
        return False
    parts = _KEBAB_PART.split(token)
    if (
        len(parts) >= 2
        and _HEX_DIGEST.fullmatch(parts[-1])
        and all(p.isalpha() for p in parts[:-1])
    ):
        return True  # words then a digest: a cache key or an artefact name (deps-linux-<sha1>)
    return all(len(p) <= 10 for p in parts) and any(len(p) >= 3 and p.isalpha() for p in parts)


def _only_random(span: Span) -> bool:
    return span.category in _RANDOM_ONLY


def _inside(span: Span, regions: list[tuple[int, int]]) -> bool:
    return any(start <= span.start and span.end <= end for start, end in regions)


_LABEL_CUES: frozenset[str] = frozenset().union(
    detect_health.DOB_CUES,
    detect_health.RECORD_CUES,
    detect_health.CLINICAL_CUES,
    detect_identity.CUES,
    detect_national_id.FOLLOW_CUES,
    detect_passwords.CUES,
)


def names_what_follows(context: str) -> bool:
    """Whether text released before may change what is found in the text typed after it:
    it holds a label or cue word, or digits (a number may go on). Otherwise the text
    buffer judges the next segment alone (cheaper; nothing would differ)."""
    return words.has_digit(context) or words.has_cue(context, _LABEL_CUES)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sort spans and merge overlapping ones (the earliest-starting span names the result)."""
    out: list[Span] = []
    # Stable sort by start: at equal starts the earlier (more specific) detector wins.
    for span in sorted(spans, key=lambda s: s.start):
        if span.end <= span.start:
            continue
        if out and span.start < out[-1].end:
            last = out[-1]
            if span.end > last.end:
                out[-1] = Span(last.start, span.end, last.category)
            continue
        out.append(span)
    return out


def redact_text(text: str, spans: Iterable[Span], mark: str = "█") -> str:
    """``text`` with every character inside ``spans`` replaced by ``mark``."""
    chars = list(text)
    for span in spans:
        for i in range(span.start, min(span.end, len(chars))):
            if chars[i] not in "\n\r\t":  # keep the line structure readable
                chars[i] = mark
    return "".join(chars)
