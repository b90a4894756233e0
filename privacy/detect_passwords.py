"""Passwords typed in prose, chat, forms and e-mail: a cue phrase, then a password-like token.

A cue names a password in one of several languages ("password", "pw", "Passwort",
"Kennwort", "mot de passe", "contraseña", "clave", "senha", "wachtwoord", ...). What
follows it is taken as the password when it is password-like enough for the way it is
introduced: after "password:" or "pw =" almost any token (a placeholder or a plain
function word is not); after "... is" / "ist" / "c'est" / "es" a token that is not a
plain word; right after the cue with nothing between, only a token that mixes letters
with digits or symbols. "login jdoe / X", "try X as the password", ``echo X | sudo -S``,
``curl -u user:X`` and ``htpasswd -b file user X`` are cues too.

``password_likeness`` is the score; ``open_cue_at_end`` tells the text buffer a line
stops inside such a password, so it can wait for the rest.
"""

from __future__ import annotations

import re

from privacy import categories as cat
from privacy import detect_words as words
from privacy.spans import Span

_CUE = (
    # a compound's first part may be glued or hyphenated: "WLAN-Passwort", "Routerkennwort"
    r"(?:(?:[^\W\d_]{2,12}-?)?(?:passwords?|passwort|passw[öo]rter|kennwort|passwd)"
    r"|pwd|pw|pass|passcode|passphrase"
    r"|pin(?:\s*code)?|mot\s+de\s+passe|mdp|contrase[ñn]a|clave|senha|wachtwoord"
    r"|parola\s+d'ordine|l[öo]senord(?:et)?|has[łl]o|heslo|salasana(?:ni|si)?|adgangskoden?"
    r"|passord(?:et)?|jelszó|[şs]ifre(?:m|miz|niz|n)?|parola|parolam"
    r"|wifi\s+key|wlan-?schl[üu]ssel)"
)
_BEFORE = r"(?<![A-Za-z0-9_.$@/-])"
_AFTER = r"(?![A-Za-z0-9_-])"
_VALUE = r"(['\"«]?)(?P<v>[^\s'\"«»]{1,64})"
_COPULA = (
    r"(?:er\s+nu|er\s+n[åa]|[äa]r\s+nu|is\s+nu|es\s+ahora|[èe]\s+ora|[ée]\s+agora|on\s+nyt"
    r"|jest\s+teraz|it'?s|it’s|it\s+is|that'?s|is\s+now|is\s+still|ist\s+jetzt|ist\s+nun|est\s+maintenant|is\s+set\s+to|changed\s+to"
    r"|ge[äa]ndert\s+(?:auf|in)|is|was|are|ist|lautet|war|est|c'est|[ée]tait|es|era|[èé]|é|är"
    r"|jest|je|er|on|now)"
)
# cue, a few words, then "is" or ":" ("the new password for the shared account is X").
_CUE_COPULA = re.compile(
    r"(?i)" + _BEFORE + _CUE + _AFTER + r"((?:[ \t]+[^\s:=,.;!?]{1,20}){0,6}?)(?:[ \t]*\?)?"
    r"(?:[ \t]*(?P<sep>[:=]|->|→)|[ \t]+(?P<cop>" + _COPULA + r")(?!\w)(?:[ \t]*:)?)[ \t]*" + _VALUE
)
# cue then the token, nothing between ("Passwort W_zk8o3vYfcQ", "wifi pw Tulip63").
_CUE_BARE = re.compile(r"(?i)" + _BEFORE + _CUE + _AFTER + r"[ \t]+" + _VALUE)
_TRY_AS = re.compile(
    r"(?i)\b(?:try|use|usa|utilise|utilisez|versuch\w*|nimm|prova|probeer|tenta)[ \t]+"
    + _VALUE
    + r"[ \t]+(?:as|als|comme|como|come)[ \t]+(?:\w+[ \t]+){0,2}"
    + _CUE
)
_LOGIN = re.compile(
    r"(?i)\b(?:login|log-?in|user(?:name)?|benutzer(?:name)?|utilisateur|usuario|utente"
    r"|gebruiker|admin|root|account|konto|compte|cuenta|creds|credentials|zugang(?:sdaten)?"
    r"|identifiants|acceso)\b(?![-‐])"  # not "User-Agent", "root-cause", "account-level"
    # what the login is for, before a colon ("creds for staging: ", "Zugang zum NAS: ")
    r"(?:[ \t]+(?:for|to|of|on|at|für|zum|zur|pour|du|de|para|del|per|voor|van|do|da)"
    r"(?:[ \t]+[^\s:/|]{1,30}){1,2}[ \t]*(?=:))?"
    r"(?:[ \t]+(?:is|was|ist|war|est|es|era|è|é|são|are|sind|son|sont|zijn)(?!\w))?"
    r"[ \t]*[:=]?[ \t]*[^\s/|]{1,40}[ \t]*(?P<sep>/|\||[ \t])[ \t]*" + _VALUE
)
# A well-known account name, a slash, its password ("router admin / X").
_ACCOUNT_SLASH = re.compile(
    r"(?i)(?<![\w/])(?:admin|administrator|root|sa|postgres|pi|ubuntu|guest)[ \t]*/[ \t]*" + _VALUE
)
_SHELL = re.compile(
    r"(?:\becho[ \t]+(['\"]?)(?P<a>[^\s'\"]+)\1[ \t]*\|[ \t]*sudo[ \t]+(?:-\w+[ \t]+)*-S"
    r"|\bcurl\b[^\n]*?[ \t](?:-u|--user)[ \t]+(['\"]?)[^\s:'\"]+:(?P<b>[^\s'\"]+)"
    r"|\bhtpasswd[ \t]+-\w*b\w*[ \t]+\S+[ \t]+\S+[ \t]+(['\"]?)(?P<c>[^\s'\"]+)"
    r"|\bchpasswd\b[^\n]*<<<[ \t]*(['\"]?)[^\s:'\"]+:(?P<d>[^\s'\"]+))"
)
# An API key named in prose ("de api key is …", "API-Schlüssel für Prod: …", "clé API : …"),
# a few words allowed before the colon or copula; the value must be long and mixed.
_API_CUE = (
    r"(?:api[- _]?(?:keys?|schl[üu]ssel|sleutel|nyckel(?:n)?|n[øo]gle(?:n)?|n[øo]kkel(?:en)?"
    r"|avain|klucz|anahtar[ıi]?|token)|(?:cl[ée]|clave|chiave|chave)\s+(?:de\s+l'|de\s+|della\s+"
    r"|da\s+)?api|access[ _-]?token|bearer\s+token|auth[ _-]?token|secret[ _-]?key)"
)
_API_CUE_COPULA = re.compile(
    r"(?i)" + _BEFORE + _API_CUE + _AFTER + r"((?:[ \t]+[^\s:=,.;!?]{1,20}){0,6}?)"
    r"(?:[ \t]*(?P<sep>[:=]|->|→)|[ \t]+(?P<cop>" + _COPULA + r")(?!\w)(?:[ \t]*:)?)[ \t]*" + _VALUE
)
# An HTTP bearer or token credential, whatever its first characters ("Bearer --cM…").
_BEARER = re.compile(
    r"(?i)\b(?:authorization|proxy-authorization)[\"']?\s*:\s*(?:bearer|token|basic)\s+"
    r"([A-Za-z0-9._~+/=-]{12,})|\bbearer\s+([A-Za-z0-9._~+/=-]{16,})"
)
# Word beginnings of the cues above (privacy.detect_words).
CUES = words.cues(
    "pass pw pwd pin kenn mot mdp cont clav senh wach paro löse lose hasł hasl hesl sala adga"
    " jels wifi wlan logi log user benu util usua uten gebr admi root acco kont comp cuen cred"
    " zuga iden acce sudo curl htpa chpa post ubun gues sa pi try use usa tent nimm prov prob"
    " vers şif şifr sifr paro api acce bear auth secr clé cle clav chia chav"
)

_NOT_PASSWORD_WORDS = """
    none null nil true false undefined required optional str string int bytes env xxx
    the a an my your our his her its their this that it in on at of for to from with by
    is was are be been not no yes and or but if then than same wrong incorrect correct
    invalid valid expired reset changed stored saved secure weak strong empty blank
    missing ok okay here there below above attached again still also too please
    der die das ein eine mein dein ist war nicht und oder im am zu vom beim
    le la les un une mon ton est pas et ou du de des au dans sur
    el los las uno una mi tu es no y o del en con
    il lo gli uno una mio tuo è non e o nel
    het een mijn jouw niet en of
    o os um uma meu teu não e ou do da
    """
_NOT_PASSWORDS = frozenset(_NOT_PASSWORD_WORDS.split())
_TRAIL = ".,;:)]}>\"'»"
_SYMBOLS = re.compile(r"[^A-Za-z0-9]")
# Symbols that names, paths and words do not hold ("-", "_", "." they do).
_PUNCTUATION = re.compile(r"[!#$%&*@?+=~^]")
_WORD_PATH = re.compile(r"[a-z][a-z_.-]*(?:/[a-z][a-z_.-]*){2,}/?")


def password_likeness(token: str) -> float:
    """How much ``token`` looks like a password rather than a word, 0 to 1."""
    n = len(token)
    if n < 4 or n > 64 or token.lower() in _NOT_PASSWORDS:
        return 0.0
    if "://" in token or token.startswith(("/", "~/", "./")):
        return 0.0
    if _WORD_PATH.fullmatch(token):
        return 0.0  # a path or resource name of words: secret/app/db, team/infra/prod
    if token.isdigit():
        return 0.4 if n <= 12 else 0.0  # a PIN after its cue; never enough on its own
    lower = any(c.islower() for c in token)
    upper = any(c.isupper() for c in token)
    digit = any(c.isdigit() for c in token)
    symbol = _SYMBOLS.search(token) is not None
    letter = lower or upper
    if not letter:
        return 0.3 if n >= 6 else 0.1
    score = 0.0
    score += 0.3 if digit else 0.0
    score += 0.25 if symbol else 0.0
    inner_upper = any(c.isupper() for c in token[1:]) and lower
    score += 0.2 if inner_upper else 0.0
    score += 0.15 if n >= 8 else 0.0
    score += 0.1 if upper and lower else 0.0
    if token.rstrip("!?.").isalpha() and not inner_upper:
        return 0.1  # a plain word ("stored", "zurücksetzen?"): too often prose
    return min(1.0, score + 0.1)


# A value that is code, not a literal: request.form['password'], os.environ.get(, $PASS.
_CODE_VALUE = re.compile(
    r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+[\[(]?.*|[A-Za-z_]\w*[\[(].*|[$%{<(\[`].*|--?[A-Za-z].*"
)
# Cues that are also everyday words ("would pass: ...", "pin: ..."): they need a token
# that looks like a password even after a colon.
_WEAK_CUES = frozenset({"pass", "pin", "pin code", "clave"})


def _span(m: re.Match[str], group: int | str, need: float, out: list[Span]) -> None:
    start, end = m.span(group)
    value = m.group(group)
    if _CODE_VALUE.fullmatch(value) and not any(c.isdigit() for c in value.split(".")[0]):
        return
    # Closing punctuation is the sentence's ("... is Hunter42."), not the password's.
    while value and value[-1] in _TRAIL:
        value = value[:-1]
        end -= 1
    if value and password_likeness(value) >= need:
        out.append(Span(start, end, cat.PASSWORD))


# A password word as the end of a compound ("Routerpasswort"): its first letters are not
# a cue key, so the word look-up alone would miss it.
_COMPOUND_CUE = re.compile(r"(?i)[^\W\d_](?:passwor|passwd|kennwor)")


def find_prose_passwords(text: str) -> list[Span]:
    """Passwords introduced by a cue phrase, a login pair or a shell idiom."""
    if not words.has_cue(text, CUES) and _COMPOUND_CUE.search(text) is None:
        return []
    out: list[Span] = []
    for m in _CUE_COPULA.finditer(text):
        # "password: X" takes almost any X; with words between the cue and the colon
        # ("a password field: true") or after a copula, X must look like a password.
        cue = m.group(0)[: m.start(1) - m.start(0)].lower()
        direct = m.group("sep") is not None and not m.group(1) and cue not in _WEAK_CUES
        _span(m, "v", 0.1 if direct else 0.35, out)
    for m in _CUE_BARE.finditer(text):
        _span(m, "v", 0.5, out)
    for m in _TRY_AS.finditer(text):
        _span(m, "v", 0.35, out)
    for m in _LOGIN.finditer(text):
        # After "user NAME" the next word is prose as often as a password ("user unit /
        # LaunchAgent", "root without sudo"): only one with a digit is taken.
        value = m.group("v").rstrip(_TRAIL)
        paired = m.group("sep") in "/|"
        # After "user / " a token with a symbol inside is as telling as one with a digit.
        if any(c.isdigit() for c in value) or (paired and _PUNCTUATION.search(value[1:-1])):
            _span(m, "v", 0.35 if paired else 0.5, out)
    for m in _ACCOUNT_SLASH.finditer(text):
        if any(c.isdigit() for c in m.group("v")):  # not a path: root/etc, admin/users
            _span(m, "v", 0.35, out)
    for m in _SHELL.finditer(text):
        group = next(g for g in "abcd" if m.group(g) is not None)
        _span(m, group, 0.0, out)
    for m in _API_CUE_COPULA.finditer(text):
        value = m.group("v").rstrip(_TRAIL)
        mixed = any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
        if len(value) >= 16 and mixed and not _CODE_VALUE.fullmatch(value):
            out.append(Span(m.start("v"), m.start("v") + len(value), cat.API_TOKEN))
    for m in _BEARER.finditer(text):
        index = 1 if m.group(1) is not None else 2
        value = m.group(index).rstrip(_TRAIL)
        if any(c.isdigit() for c in value) or len(value) >= 24:
            out.append(Span(m.start(index), m.start(index) + len(value), cat.API_TOKEN))
    return out


_OPEN = re.compile(
    r"(?i)" + _BEFORE + _CUE + _AFTER + r"(?:(?:[ \t]+[^\s:=]{1,20}){0,6}?"
    r"(?:[ \t]*(?:[:=]|->)|[ \t]+" + _COPULA + r"(?!\w)(?:[ \t]*:)?))?[ \t]*(?P<v>\S{0,64})\Z"
)


def open_cue_at_end(text: str) -> int | None:
    """Where a password that may still be being typed starts at the end of ``text``:
    the text ends with a cue (and perhaps the first characters after it). None if not."""
    tail = text[-120:]
    if not words.has_cue(tail, CUES):
        return None
    m = _OPEN.search(tail)
    if m is None:
        return None
    return len(text) - len(tail) + m.start("v")
