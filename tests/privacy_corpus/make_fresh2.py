"""Build fresh2_typed.jsonl: hand-written typed-text evaluation lines with fake data.

Self-contained (imports no project code); deterministic (fixed seed).  Offsets are
computed with str.find, never by hand.  Run: python3 make_fresh2.py
"""

import base64
import json
import os
import random
import string
import uuid

R = random.Random(20261207)
D = string.digits
U = string.ascii_uppercase


def digits(n):
    return "".join(R.choice(D) for _ in range(n))


def letters(n, alphabet=U):
    return "".join(R.choice(alphabet) for _ in range(n))


# ---------------------------------------------------------------- cards
def luhn_check(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(num):
    return luhn_check(num[:-1]) == num[-1]


def card(kind="visa", sep=" "):
    prefix, length = {
        "visa": ("4", 16),
        "mc": (R.choice(["51", "52", "53", "54", "55"]), 16),
        "amex": (R.choice(["34", "37"]), 15),
        "disc": ("6011", 16),
        "mc2": (str(R.randint(2221, 2720)), 16),
    }[kind]
    body = prefix + digits(length - 1 - len(prefix))
    n = body + luhn_check(body)
    assert luhn_ok(n)
    if length == 15:
        return sep.join([n[:4], n[4:10], n[10:]])
    return sep.join(n[i : i + 4] for i in range(0, 16, 4))


# ---------------------------------------------------------------- IBAN
BBAN = {
    "DE": "18n",
    "GB": "4a14n",
    "NL": "4a10n",
    "ES": "20n",
    "IT": "1a22n",
    "FR": "23n",
    "PL": "24n",
    "PT": "21n",
    "DK": "14n",
    "NO": "11n",
    "FI": "14n",
    "CZ": "20n",
    "TR": "5n1z16n",
    "BE": "12n",
    "AT": "16n",
    "CH": "17n",
}
BANKS = {"GB": ["NWBK", "BARC", "LOYD", "MIDL"], "NL": ["ABNA", "INGB", "RABO", "SNSB"]}


def iban(cc, grouped=True):
    spec = BBAN[cc]
    out = ""
    import re

    for num, kind in re.findall(r"(\d+)([anz])", spec):
        num = int(num)
        if kind == "n":
            out += digits(num)
        elif kind == "z":
            out += "0" * num
        elif cc in BANKS and num == 4:
            out += R.choice(BANKS[cc])
        else:
            out += letters(num)
    rearr = out + cc + "00"
    numeric = "".join(str(int(c, 36)) for c in rearr)
    check = 98 - int(numeric) % 97
    s = f"{cc}{check:02d}{out}"
    numeric2 = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    assert int(numeric2) % 97 == 1
    return " ".join(s[i : i + 4] for i in range(0, len(s), 4)) if grouped else s


# ---------------------------------------------------------------- national ids
def us_ssn(sep="-"):
    area = R.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}{sep}{R.randint(1, 99):02d}{sep}{R.randint(1, 9999):04d}"


def uk_nino():
    a = R.choice("ABCEGHJKLMNPRSTWXYZ")
    b = R.choice("ABCEGHJKLMNPRSTWXYZ")
    d = digits(6)
    return f"{a}{b} {d[:2]} {d[2:4]} {d[4:]} {R.choice('ABCD')}"


def es_dni():
    n = R.randint(10000000, 99999999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def es_nie():
    p = R.choice("XYZ")
    n = digits(7)
    return f"{p}{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[int(str('XYZ'.index(p)) + n) % 23]}"


ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        [
            1,
            0,
            5,
            7,
            9,
            13,
            15,
            17,
            19,
            21,
            1,
            0,
            5,
            7,
            9,
            13,
            15,
            17,
            19,
            21,
            2,
            4,
            18,
            20,
            11,
            3,
            6,
            8,
            12,
            14,
            16,
            10,
            22,
            25,
            24,
            23,
        ],
    )
)


def it_cf():
    s = (
        letters(6, "BCDFGLMNPRSTVZ")
        + digits(2)
        + R.choice("ABCDEHLMPRST")
        + f"{R.choice([R.randint(1, 28), R.randint(41, 68)]):02d}"
        + R.choice(["F205", "H501", "L219", "G273", "A662"])
    )
    tot = 0
    for i, c in enumerate(s):
        tot += ODD[c] if i % 2 == 0 else (int(c) if c.isdigit() else ord(c) - 65)
    return s + chr(65 + tot % 26)


def nl_bsn():
    while True:
        d = [R.randint(0, 9) for _ in range(8)]
        s = sum(x * w for x, w in zip(d, range(9, 1, -1)))
        last = s % 11
        if last < 10 and d[0] != 0:
            return "".join(map(str, d)) + str(last)


def pl_pesel(y=None, m=None, dd=None):
    y = y or R.randint(55, 99)
    m = m or R.randint(1, 12)
    dd = dd or R.randint(1, 28)
    s = f"{y:02d}{m:02d}{dd:02d}{digits(4)}"
    w = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
    return s + str((10 - sum(int(a) * b for a, b in zip(s, w)) % 10) % 10)


def no_fnr():
    while True:
        base = f"{R.randint(1, 28):02d}{R.randint(1, 12):02d}{R.randint(60, 99):02d}{R.randint(0, 499):03d}"
        d = list(map(int, base))
        k1 = 11 - sum(a * b for a, b in zip(d, [3, 7, 6, 1, 8, 9, 4, 5, 2])) % 11
        k1 = 0 if k1 == 11 else k1
        if k1 == 10:
            continue
        d.append(k1)
        k2 = 11 - sum(a * b for a, b in zip(d, [5, 4, 3, 2, 7, 6, 5, 4, 3, 2])) % 11
        k2 = 0 if k2 == 11 else k2
        if k2 == 10:
            continue
        return base + f"{k1}{k2}"


def fi_hetu():
    dm = f"{R.randint(1, 28):02d}{R.randint(1, 12):02d}{R.randint(60, 99):02d}"
    z = f"{R.randint(2, 899):03d}"
    return f"{dm}-{z}{'0123456789ABCDEFHJKLMNPRSTUVWXY'[int(dm + z) % 31]}"


def dk_cpr():
    return f"{R.randint(1, 28):02d}{R.randint(1, 12):02d}{R.randint(60, 99):02d}-{digits(4)}"


def fr_nir():
    body = f"{R.choice('12')}{R.randint(60, 99):02d}{R.randint(1, 12):02d}{R.choice(['75', '69', '13', '33', '59'])}{digits(3)}{digits(3)}"
    key = 97 - int(body) % 97
    return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key:02d}"


def br_cpf():
    d = [R.randint(0, 9) for _ in range(9)]
    for n in (10, 11):
        s = sum(a * b for a, b in zip(d, range(n, 1, -1)))
        d.append(0 if s % 11 < 2 else 11 - s % 11)
    s = "".join(map(str, d))
    return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}"


def tr_tckn():
    d = [R.randint(1, 9)] + [R.randint(0, 9) for _ in range(8)]
    d10 = ((d[0] + d[2] + d[4] + d[6] + d[8]) * 7 - (d[1] + d[3] + d[5] + d[7])) % 10
    d.append(d10)
    d.append(sum(d) % 10)
    return "".join(map(str, d))


def cz_rc():
    while True:
        s = f"{R.randint(60, 99):02d}{R.choice([R.randint(1, 12), R.randint(51, 62)]):02d}{R.randint(1, 28):02d}{digits(3)}"
        c = int(s) % 11
        if c < 10:
            return f"{s[:6]}/{s[6:]}{c}"


def ca_sin():
    body = str(R.randint(1, 7)) + digits(7)
    n = body + luhn_check(body)
    return f"{n[:3]} {n[3:6]} {n[6:]}"


def au_tfn():
    w = [1, 4, 3, 7, 5, 8, 6, 9, 10]
    while True:
        d = [R.randint(0, 9) for _ in range(9)]
        if sum(a * b for a, b in zip(d, w)) % 11 == 0 and d[0] != 0:
            s = "".join(map(str, d))
            return f"{s[:3]} {s[3:6]} {s[6:]}"


def de_svnr():
    while True:
        area = f"{R.choice([12, 13, 24, 25, 53, 65]):02d}"
        bd = f"{R.randint(1, 28):02d}{R.randint(1, 12):02d}{R.randint(60, 99):02d}"
        letter = R.choice("ABKMSW")
        serial = f"{R.randint(0, 49):02d}"
        ds = area + bd + f"{ord(letter) - 64:02d}" + serial
        w = [2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1]
        tot = sum(sum(map(int, str(int(a) * b))) for a, b in zip(ds, w))
        return f"{area} {bd} {letter} {serial}{tot % 10}"


def ean_check(s):
    tot = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(s))
    return str((10 - tot % 10) % 10)


def ch_ahv():
    s = "756" + digits(9)
    s += ean_check(s)
    return f"{s[:3]}.{s[3:7]}.{s[7:11]}.{s[11:]}"


def at_svnr():
    while True:
        serial = f"{R.randint(100, 999)}"
        bd = f"{R.randint(1, 28):02d}{R.randint(1, 12):02d}{R.randint(60, 99):02d}"
        ds = serial + bd
        c = sum(int(a) * b for a, b in zip(ds, [3, 7, 9, 5, 8, 4, 2, 1, 6])) % 11
        if c < 10:
            return f"{serial}{c} {bd}"


def be_rrn():
    bd = f"{R.randint(60, 99):02d}{R.randint(1, 12):02d}{R.randint(1, 28):02d}"
    seq = f"{R.randint(1, 997):03d}"
    key = 97 - int(bd + seq) % 97
    return f"{bd[:2]}.{bd[2:4]}.{bd[4:]}-{seq}.{key:02d}"


def aadhaar():
    s = str(R.randint(2, 9)) + digits(11)
    return f"{s[:4]} {s[4:8]} {s[8:]}"


# ---------------------------------------------------------------- phones
def ph(kind):
    f = {
        "us1": lambda: f"({R.randint(201, 989)}) 555-01{digits(2)}",
        "us2": lambda: f"+1 {R.randint(201, 989)}-555-01{digits(2)}",
        "us3": lambda: f"{R.randint(201, 989)}.555.01{digits(2)}",
        "uk1": lambda: f"+44 7700 900{digits(3)}",
        "uk2": lambda: f"07700 900{digits(3)}",
        "uk3": lambda: f"020 7946 0{digits(3)}",
        "de1": lambda: f"+49 151 {digits(8)}",
        "de2": lambda: f"0151 {digits(4)} {digits(4)}",
        "de3": lambda: f"+49 (0)30 {digits(8)}",
        "at1": lambda: f"+43 664 {digits(7)}",
        "ch1": lambda: f"+41 79 {digits(3)} {digits(2)} {digits(2)}",
        "ch2": lambda: f"079 {digits(3)} {digits(2)} {digits(2)}",
        "it1": lambda: f"+39 347 {digits(3)} {digits(4)}",
        "it2": lambda: f"347 {digits(7)}",
        "it3": lambda: f"06 {digits(4)} {digits(4)}",
        "es1": lambda: f"+34 6{digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        "es2": lambda: f"6{digits(2)} {digits(3)} {digits(3)}",
        "es3": lambda: f"91 {digits(3)} {digits(2)} {digits(2)}",
        "mx1": lambda: f"+52 55 {digits(4)} {digits(4)}",
        "ar1": lambda: f"+54 9 11 {digits(4)}-{digits(4)}",
        "nl1": lambda: f"+31 6 {digits(8)}",
        "nl2": lambda: f"06-{digits(8)}",
        "nl3": lambda: f"020 {digits(3)} {digits(4)}",
        "be1": lambda: f"+32 470 {digits(2)} {digits(2)} {digits(2)}",
        "fr1": lambda: f"+33 6 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        "fr2": lambda: f"06 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        "fr3": lambda: f"01.{digits(2)}.{digits(2)}.{digits(2)}.{digits(2)}",
        "ca1": lambda: f"+1 (514) 555-01{digits(2)}",
        "pl1": lambda: f"+48 5{digits(2)} {digits(3)} {digits(3)}",
        "pl2": lambda: f"5{digits(2)}-{digits(3)}-{digits(3)}",
        "pt1": lambda: f"+351 91{digits(1)} {digits(3)} {digits(3)}",
        "br1": lambda: f"+55 11 9{digits(4)}-{digits(4)}",
        "br2": lambda: f"(21) 9{digits(4)}-{digits(4)}",
        "dk1": lambda: f"+45 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        "dk2": lambda: f"2{digits(7)}",
        "no1": lambda: f"+47 4{digits(2)} {digits(2)} {digits(3)}",
        "no2": lambda: f"9{digits(2)} {digits(2)} {digits(3)}",
        "fi1": lambda: f"+358 40 {digits(7)}",
        "fi2": lambda: f"040 {digits(3)} {digits(4)}",
        "cz1": lambda: f"+420 6{digits(2)} {digits(3)} {digits(3)}",
        "cz2": lambda: f"7{digits(2)} {digits(3)} {digits(3)}",
        "tr1": lambda: f"+90 532 {digits(3)} {digits(2)} {digits(2)}",
        "tr2": lambda: f"0532 {digits(3)} {digits(2)} {digits(2)}",
        "in1": lambda: f"+91 98{digits(3)} {digits(5)}",
        "in2": lambda: f"098{digits(3)} {digits(5)}",
        "au1": lambda: f"+61 4{digits(2)} {digits(3)} {digits(3)}",
        "au2": lambda: f"04{digits(2)} {digits(3)} {digits(3)}",
        "au3": lambda: f"(02) 9{digits(3)} {digits(4)}",
    }[kind]
    return f()


# ---------------------------------------------------------------- secrets
ALNUM = string.ascii_letters + string.digits


def rnd(n, alphabet=ALNUM):
    return "".join(R.choice(alphabet) for _ in range(n))


def pw():
    kind = R.randrange(4)
    if kind == 0:
        return rnd(R.randint(10, 16), ALNUM + "!#%&*+-=?@^_")
    if kind == 1:
        return (
            R.choice(["Sommer", "Inverno", "Verano", "Zomer", "Lato", "Kesä", "Sonbahar", "Autumn"])
            + digits(4)
            + R.choice("!?#$")
        )
    if kind == 2:
        return (
            R.choice(["bella", "kotek", "rocky", "luna", "max", "pipoca"])
            + "_"
            + R.choice(["mia", "nonna", "home", "casa"])
            + digits(2)
        )
    return rnd(6, string.ascii_lowercase) + R.choice("!#@") + rnd(6, ALNUM)


def aws_key():
    return "AKIA" + rnd(16, U + "234567")


def aws_secret():
    return rnd(40, ALNUM + "/+")


def gh_token():
    return "ghp_" + rnd(36)


def google_key():
    return "AIza" + rnd(35, ALNUM + "-_")


def stripe_key():
    return "sk_test_" + rnd(24)


def openai_key():
    return "sk-proj-" + rnd(48, ALNUM + "-_")


def slack_token():
    return f"xoxb-{digits(12)}-{digits(13)}-{rnd(24)}"


def gitlab_token():
    return "glpat-" + rnd(20, ALNUM + "-_")


# ---------------------------------------------------------------- other
def mrn():
    return R.choice(
        [digits(8), "A" + digits(7), f"{digits(3)}-{digits(3)}-{digits(3)}", "MRN" + digits(7)]
    )


def nhs_number():
    while True:
        d = [R.randint(0, 9) for _ in range(9)]
        c = 11 - sum(a * b for a, b in zip(d, range(10, 1, -1))) % 11
        c = 0 if c == 11 else c
        if c != 10:
            s = "".join(map(str, d)) + str(c)
            return f"{s[:3]} {s[3:6]} {s[6:]}"


def uk_dl(surname, initials, y, m, d, female=False):
    s = (surname.upper() + "99999")[:5]
    mm = m + 50 if female else m
    return f"{s}{str(y)[2]}{mm:02d}{d:02d}{str(y)[3]}{initials}9{letters(2)}"


# ================================================================ lines
LINES = []


def pos(text, spans, scenario, lang):
    out, cursor = [], {}
    for value, cat in spans:
        start = text.find(value, cursor.get(value, 0))
        assert start >= 0, (value, text)
        cursor[value] = start + len(value)
        out.append([start, start + len(value), cat])
    out.sort()
    for (a, b, _), (c, d, _) in zip(out, out[1:]):
        assert b <= c, text
    LINES.append({"text": text, "spans": out, "scenario": scenario, "lang": lang})


def neg(text, kind, scenario, lang="en"):
    LINES.append({"text": text, "spans": [], "scenario": scenario, "lang": lang, "kind": kind})


def fill(template, **vals):
    out = template
    for k, v in vals.items():
        out = out.replace("{" + k + "}", v)
    return out


def single(rows, cat):
    for lang, scen, tpl, gen in rows:
        v = gen()
        pos(fill(tpl, v=v), [(v, cat)], scen, lang)


def dob(fmt):
    y, m, d = R.randint(1950, 2004), R.randint(1, 12), R.randint(1, 28)
    months = {
        "en": [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        "es": [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
        "fr": [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
        "de": [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
    }
    return {
        "us": f"{m:02d}/{d:02d}/{y}",
        "eu/": f"{d:02d}/{m:02d}/{y}",
        "eu.": f"{d:02d}.{m:02d}.{y}",
        "eu-": f"{d:02d}-{m:02d}-{y}",
        "iso": f"{y}-{m:02d}-{d:02d}",
        "short.": f"{d}.{m}.{y}",
        "yy.": f"{d:02d}.{m:02d}.{str(y)[2:]}",
        "cz": f"{d}. {m}. {y}",
        "en_long": f"{d} {months['en'][m - 1]} {y}",
        "en_us_long": f"{months['en'][m - 1]} {d}, {y}",
        "en_abbr": f"{d} {months['en'][m - 1][:3]} {y}",
        "es_long": f"{d} de {months['es'][m - 1]} de {y}",
        "fr_long": f"{d} {months['fr'][m - 1]} {y}",
        "de_long": f"{d}. {months['de'][m - 1]} {y}",
    }[fmt]


# ---------------------------------------------------------------- cards
single(
    [
        (
            "en",
            "chat",
            "here's the card for the hotel deposit: {v} exp 11/28",
            lambda: card("visa"),
        ),
        ("en", "form", "Card number {v}", lambda: card("mc")),
        (
            "en",
            "email",
            "Hi Raj, please charge the balance to my Amex {v}. Thanks, Priya",
            lambda: card("amex"),
        ),
        ("en", "notes", "costco visa {v} (joint acct)", lambda: card("visa", "")),
        (
            "en",
            "shell",
            "curl -d 'card={v}&exp=0428' https://shop.example.test/charge",
            lambda: card("disc", ""),
        ),
        ("de", "form", "Kartennummer: {v}", lambda: card("mc2")),
        ("de", "chat", "kannst du die Tickets mit meiner Karte zahlen? {v}", lambda: card("visa")),
        ("it", "chat", "ti giro il numero della carta: {v}, scade 03/27", lambda: card("mc")),
        ("es", "form", "Número de tarjeta {v}", lambda: card("visa")),
        ("es", "chat", "pásame la reserva, pago con la tarjeta {v}", lambda: card("mc", "-")),
        (
            "fr",
            "email",
            "Bonjour, voici le numéro de ma carte bancaire : {v}. Cordialement, Lucie",
            lambda: card("visa"),
        ),
        ("nl", "chat", "betaal jij? anders mijn creditcard {v}", lambda: card("mc")),
        ("pl", "form", "Numer karty: {v}", lambda: card("visa")),
        ("pt", "chat", "usa o meu cartão {v} pra pagar o Uber", lambda: card("mc")),
        ("tr", "form", "Kart numarası {v}", lambda: card("visa")),
        ("da", "chat", "kortnummer er {v} hvis du skal bestille", lambda: card("visa")),
        ("fi", "chat", "korttinumero {v}, voimassa 08/27", lambda: card("mc2")),
        ("cs", "form", "Číslo karty {v}", lambda: card("visa", "-")),
    ],
    "card",
)

# ---------------------------------------------------------------- national identity numbers
single(
    [
        ("en", "form", "SSN: {v}", us_ssn),
        (
            "en",
            "email",
            "My social is {v}, let me know if the lender needs anything else.",
            lambda: us_ssn(" "),
        ),
        ("en", "chat", "ni number is {v}", uk_nino),
        ("en", "form", "Social Insurance Number (SIN): {v}", ca_sin),
        ("en", "form", "Tax File Number {v}", au_tfn),
        ("en", "chat", "aadhaar no {v} for the KYC", aadhaar),
        ("es", "form", "DNI: {v}", es_dni),
        ("es", "email", "Adjunto mi NIE {v} para el contrato de alquiler.", es_nie),
        ("it", "form", "Codice fiscale: {v}", it_cf),
        ("nl", "form", "BSN {v}", nl_bsn),
        ("pl", "chat", "mój PESEL to {v}", pl_pesel),
        ("da", "form", "CPR-nr.: {v}", dk_cpr),
        ("no", "form", "Fødselsnummer (11 siffer): {v}", no_fnr),
        ("fi", "chat", "henkilötunnus {v}", fi_hetu),
        ("fr", "form", "N° de sécurité sociale : {v}", fr_nir),
        ("pt", "form", "CPF: {v}", br_cpf),
        ("tr", "form", "T.C. Kimlik No: {v}", tr_tckn),
        ("cs", "form", "Rodné číslo: {v}", cz_rc),
        ("de", "form", "Sozialversicherungsnummer: {v}", de_svnr),
        ("de", "email", "Meine AHV-Nummer lautet {v}.", ch_ahv),
        ("de", "form", "SV-Nummer {v}", at_svnr),
        ("fr", "form", "Numéro de registre national : {v}", be_rrn),
    ],
    "ssn",
)

# ---------------------------------------------------------------- IBAN
single(
    [
        ("de", "form", "IBAN: {v}", lambda: iban("DE")),
        (
            "de",
            "email",
            "Bitte überweisen Sie die Kaution auf mein Konto {v} (Sparkasse).",
            lambda: iban("DE", False),
        ),
        ("en", "chat", "send it to my UK account, IBAN {v}", lambda: iban("GB")),
        ("en", "form", "Bank account (IBAN): {v}", lambda: iban("GB", False)),
        ("nl", "chat", "kun je het overmaken naar {v}? t.n.v. S. de Vries", lambda: iban("NL")),
        ("es", "form", "IBAN para domiciliación: {v}", lambda: iban("ES")),
        (
            "it",
            "email",
            "Le coordinate per il bonifico: IBAN {v}, intestato a Chiara Esposito.",
            lambda: iban("IT", False),
        ),
        ("fr", "chat", "mon RIB : {v}", lambda: iban("FR")),
        ("pl", "chat", "przelej na {v}", lambda: iban("PL", False)),
        ("pt", "form", "IBAN {v}", lambda: iban("PT")),
        ("da", "form", "IBAN-nummer: {v}", lambda: iban("DK")),
        ("no", "chat", "kontonummeret mitt i IBAN-format er {v}", lambda: iban("NO", False)),
        ("fi", "form", "Tilinumero (IBAN): {v}", lambda: iban("FI")),
        ("cs", "form", "Číslo účtu IBAN: {v}", lambda: iban("CZ")),
        ("tr", "chat", "IBAN'ım {v}, ad soyad: Elif Yıldız", lambda: iban("TR")),
        ("fr", "form", "IBAN du bénéficiaire : {v}", lambda: iban("BE")),
        ("de", "form", "IBAN {v}", lambda: iban("AT")),
        ("de", "chat", "Schick es bitte an {v}", lambda: iban("CH", False)),
    ],
    "iban",
)

# ---------------------------------------------------------------- phones
single(
    [
        (lang, scen, tpl, (lambda k=k: ph(k)))
        for lang, scen, tpl, k in [
            ("en", "chat", "call me on {v} after 6", "us1"),
            ("en", "form", "Phone: {v}", "us2"),
            ("en", "email", "Best,\nTom Whitfield\nMobile {v}", "uk1"),
            ("en", "chat", "my new number is {v}", "uk2"),
            ("en", "notes", "landlord (Mrs Patel) - {v}", "uk3"),
            ("en", "form", "Contact number: {v}", "in1"),
            ("en", "chat", "text me {v} when you land", "au2"),
            ("en", "form", "Home phone {v}", "au3"),
            ("en", "form", "Mobile: {v}", "ca1"),
            ("de", "chat", "meine Handynummer: {v}", "de2"),
            ("de", "form", "Telefon {v}", "de3"),
            ("de", "email", "Sie erreichen mich unter {v}.", "at1"),
            ("de", "chat", "ruf mich an: {v}", "ch2"),
            ("it", "chat", "il mio cell è {v}", "it2"),
            ("it", "form", "Telefono: {v}", "it1"),
            ("es", "chat", "mi móvil es el {v}", "es2"),
            ("es", "form", "Teléfono de contacto: {v}", "mx1"),
            ("es", "chat", "escribime al {v}", "ar1"),
            ("nl", "chat", "bel me op {v}", "nl2"),
            ("fr", "chat", "mon portable : {v}", "fr2"),
            ("fr", "form", "Téléphone : {v}", "fr3"),
            ("pl", "chat", "zadzwoń {v}", "pl2"),
            ("pt", "chat", "meu zap é {v}", "br2"),
            ("pt", "form", "Telemóvel: {v}", "pt1"),
            ("da", "chat", "mit nummer er {v}", "dk1"),
            ("no", "chat", "ring meg på {v}", "no2"),
            ("fi", "chat", "soita numeroon {v}", "fi2"),
            ("cs", "form", "Telefon: {v}", "cz1"),
            ("tr", "chat", "numaram {v}", "tr2"),
        ]
    ],
    "phone",
)

# ---------------------------------------------------------------- email
single(
    [
        (lang, scen, tpl, (lambda a=a: a))
        for lang, scen, tpl, a in [
            ("en", "chat", "my personal email is {v}", "jake.morrison1988@gmail.com"),
            ("en", "form", "Email: {v}", "ananya.k.iyer@yahoo.in"),
            (
                "en",
                "email",
                "Please reply to my home address {v} rather than work.",
                "liz.pemberton@btinternet.com",
            ),
            ("de", "email", "Antwort bitte an meine private Adresse {v}", "f.hofbauer77@gmx.at"),
            ("it", "form", "E-mail: {v}", "chiara.esposito93@libero.it"),
            ("es", "chat", "escríbeme a {v}", "lucia.fdez.garcia@hotmail.es"),
            ("nl", "form", "E-mailadres: {v}", "sanne.devries@ziggo.nl"),
            ("fr", "chat", "mon adresse perso : {v}", "theo.lambert@free.fr"),
            ("pl", "form", "Adres e-mail: {v}", "jan.kowalski1984@onet.pl"),
            ("pt", "chat", "manda pro meu e-mail {v}", "bruno.santos.rj@uol.com.br"),
            ("tr", "form", "E-posta: {v}", "elif.yildiz@yandex.com.tr"),
            ("da", "form", "E-mail: {v}", "mads.norgaard@mail.dk"),
            ("no", "chat", "send det til {v}", "ingrid.haugen@online.no"),
            ("fi", "form", "Sähköposti: {v}", "aino.virtanen@luukku.com"),
            ("cs", "form", "E-mail: {v}", "petr.novak@seznam.cz"),
        ]
    ],
    "email",
)

# ---------------------------------------------------------------- passwords
urlpw = lambda: rnd(14)  # noqa: E731  (URL-safe)
single(
    [
        ("en", "chat", "wifi password is {v}", pw),
        ("en", "form", "Password: {v}", pw),
        ("en", "shell", "mysql -u root -p{v} -h 127.0.0.1 shop", urlpw),
        ("en", "shell", "export DB_PASSWORD={v}", urlpw),
        ("en", "shell", "psql postgres://app_user:{v}@db.internal.example:5432/orders", urlpw),
        ("en", "code", "DATABASE_URL=mysql://admin:{v}@10.0.3.17:3306/crm", urlpw),
        (
            "en",
            "shell",
            "echo 'machine api.example.test login deploy password {v}' >> ~/.netrc",
            urlpw,
        ),
        ("en", "code", 'redis_url = "redis://:{v}@cache.example.internal:6379/0"', urlpw),
        ("en", "shell", "sshpass -p '{v}' ssh admin@192.0.2.10", pw),
        ("en", "code", 'smtp:\n  host: mail.example.org\n  user: alerts\n  password: "{v}"', pw),
        ("en", "shell", "docker login -u ci-bot -p {v} registry.example.test", urlpw),
        ("en", "shell", "curl -u admin:{v} https://jenkins.example.test/api/json", urlpw),
        ("en", "code", "mongodb+srv://reporting:{v}@cluster0.example.mongodb.net/analytics", urlpw),
        ("de", "chat", "das WLAN-Passwort ist {v}", pw),
        ("de", "form", "Kennwort: {v}", pw),
        ("it", "chat", "la password della mail è {v}", pw),
        ("es", "chat", "la contraseña del router es {v}", pw),
        ("nl", "chat", "wachtwoord: {v}", pw),
        ("fr", "chat", "mon mot de passe c'est {v}", pw),
        ("pl", "chat", "hasło do netflixa: {v}", pw),
        ("pt", "chat", "a senha do wi-fi é {v}", pw),
        ("tr", "form", "Şifre: {v}", pw),
        ("da", "chat", "adgangskoden er {v}", pw),
        ("no", "chat", "passordet er {v}", pw),
        ("fi", "chat", "salasana on {v}", pw),
        ("cs", "form", "Heslo: {v}", pw),
    ],
    "password",
)
p = pw()
pos(
    f"the netflix login is maria.g.alonso@gmail.com / {p}",
    [("maria.g.alonso@gmail.com", "email"), (p, "password")],
    "chat",
    "en",
)
p = pw()
pos(
    f"Benutzer: k.weber84@web.de\nPasswort: {p}",
    [("k.weber84@web.de", "email"), (p, "password")],
    "form",
    "de",
)

# ---------------------------------------------------------------- API keys
k, s = aws_key(), aws_secret()
pos(
    f"export AWS_ACCESS_KEY_ID={k}\nexport AWS_SECRET_ACCESS_KEY={s}",
    [(k, "api_key"), (s, "api_key")],
    "shell",
    "en",
)
single(
    [
        ("en", "code", "GITHUB_TOKEN={v}", gh_token),
        ("en", "code", "const stripe = require('stripe')('{v}');", stripe_key),
        ("en", "code", 'OPENAI_API_KEY="{v}"', openai_key),
        ("en", "chat", "here's the slack bot token {v} don't share it", slack_token),
        ("en", "code", "maps_key = '{v}'", google_key),
        (
            "en",
            "shell",
            "git clone https://oauth2:{v}@gitlab.example.com/team/app.git",
            gitlab_token,
        ),
        (
            "en",
            "shell",
            "curl -H 'Authorization: Bearer {v}' https://api.example.test/v1/me",
            lambda: rnd(40, ALNUM + "-_"),
        ),
        ("de", "chat", "hier der API-Schlüssel für Prod: {v}", lambda: rnd(32, "0123456789abcdef")),
        ("es", "chat", "te paso la clave de la API: {v}", google_key),
        ("fr", "email", "Voici la clé API de production : {v}", stripe_key),
        ("it", "chat", "token di accesso: {v}", gh_token),
        ("nl", "chat", "de api key is {v}", lambda: rnd(32, "0123456789abcdef")),
        ("pl", "chat", "klucz API: {v}", openai_key),
        ("pt", "code", "API_KEY={v}", lambda: rnd(40)),
    ],
    "api_key",
)

# ---------------------------------------------------------------- dates of birth
single(
    [
        (lang, scen, tpl, (lambda f=f: dob(f)))
        for lang, scen, tpl, f in [
            ("en", "form", "DOB: {v}", "us"),
            ("en", "form", "Date of birth: {v}", "en_long"),
            ("en", "chat", "the form wants my date of birth - it's {v}", "en_us_long"),
            ("en", "form", "D.O.B. {v}", "iso"),
            ("en", "email", "Name: Arjun Mehta, born {v}, Pune", "eu/"),
            ("en", "clinical", "Pt: R. Okafor, DOB {v}", "en_abbr"),
            ("de", "form", "Geburtsdatum: {v}", "eu."),
            ("de", "form", "geb. am {v}", "short."),
            ("de", "email", "ich bin am {v} geboren", "de_long"),
            ("it", "form", "Data di nascita: {v}", "eu/"),
            ("es", "form", "Fecha de nacimiento: {v}", "eu-"),
            ("es", "chat", "nací el {v}", "es_long"),
            ("nl", "form", "Geboortedatum: {v}", "eu-"),
            ("fr", "form", "Né le {v} à Lyon", "fr_long"),
            ("fr", "form", "Date de naissance : {v}", "eu/"),
            ("pl", "form", "Data urodzenia: {v}", "iso"),
            ("pt", "form", "Data de nascimento: {v}", "eu/"),
            ("da", "form", "Fødselsdato: {v}", "eu."),
            ("no", "form", "Fødselsdato: {v}", "yy."),
            ("fi", "form", "Syntymäaika: {v}", "short."),
            ("cs", "form", "Datum narození: {v}", "cz"),
            ("tr", "form", "Doğum tarihi: {v}", "eu."),
        ]
    ],
    "date_of_birth",
)

# ---------------------------------------------------------------- clinical: MRN, diagnosis, ICD-10, medication
CLIN = [
    (
        "en",
        "clinical",
        "Patient: J. Doe, MRN {m}, DOB {dob}. Dx: {dx} ({icd}). Rx: {med} once daily.",
        "type 2 diabetes mellitus without complications",
        "E11.9",
        "metformin 500 mg",
    ),
    (
        "en",
        "clinical",
        "Hospital No. {m}. Imp: {dx} ({icd}); started {med} BD.",
        "community-acquired pneumonia, right lower lobe",
        "J18.1",
        "amoxicillin 1 g",
    ),
    (
        "en",
        "clinical",
        "Med Rec #: {m} - f/u {dx} ({icd}), increase {med} nocte.",
        "major depressive disorder, recurrent, moderate",
        "F33.1",
        "sertraline 100 mg",
    ),
    (
        "en",
        "clinical",
        "MRN {m}: known {dx} ({icd}); continue {med}.",
        "HIV disease",
        "B20",
        "Biktarvy 50/200/25 mg",
    ),
    (
        "de",
        "clinical",
        "Patientennummer {m}. Diagnose: {dx} ({icd}). Medikation: {med} 1-0-1.",
        "Diabetes mellitus Typ 2 mit Nierenkomplikationen",
        "E11.2",
        "Metformin 1000 mg",
    ),
    (
        "de",
        "clinical",
        "Fallnummer {m} - Diagnose: {dx} ({icd}), Therapie: {med} morgens.",
        "mittelgradige depressive Episode",
        "F32.1",
        "Escitalopram 10 mg",
    ),
    (
        "it",
        "clinical",
        "Cartella clinica n. {m} - Diagnosi: {dx} ({icd}). Terapia: {med}.",
        "disturbo d'ansia generalizzato",
        "F41.1",
        "paroxetina 20 mg",
    ),
    (
        "es",
        "clinical",
        "Nº historia clínica: {m}. Diagnóstico: {dx} ({icd}). Tratamiento: {med} cada 12 h.",
        "hipertensión arterial esencial",
        "I10",
        "enalapril 10 mg",
    ),
    (
        "nl",
        "clinical",
        "Patiëntnummer {m}. Diagnose: {dx} ({icd}). Medicatie: {med} 2x daags.",
        "COPD GOLD 3",
        "J44.9",
        "tiotropium 18 microgram",
    ),
    (
        "fr",
        "clinical",
        "N° de dossier patient : {m}. Diagnostic : {dx} ({icd}). Traitement : {med}.",
        "trouble bipolaire de type I, épisode actuel maniaque",
        "F31.1",
        "lithium 400 mg",
    ),
    (
        "pl",
        "clinical",
        "Nr historii choroby: {m}. Rozpoznanie: {dx} ({icd}). Zalecenia: {med} rano.",
        "nadciśnienie tętnicze samoistne",
        "I10",
        "amlodypina 5 mg",
    ),
    (
        "pt",
        "clinical",
        "Prontuário nº {m}. Diagnóstico: {dx} (CID-10 {icd}). Prescrição: {med}.",
        "transtorno de ansiedade generalizada",
        "F41.1",
        "clonazepam 0,5 mg",
    ),
    (
        "da",
        "clinical",
        "Journalnummer {m}. Diagnose: {dx} ({icd}). Behandling: {med}.",
        "moderat depressiv enkeltepisode",
        "F32.1",
        "sertralin 50 mg",
    ),
    (
        "fi",
        "clinical",
        "Potilasnumero {m}. Diagnoosi: {dx} ({icd}). Lääkitys: {med} iltaisin.",
        "tyypin 2 diabetes",
        "E11.9",
        "metformiini 500 mg",
    ),
    (
        "cs",
        "clinical",
        "Číslo chorobopisu {m}. Diagnóza: {dx} ({icd}). Medikace: {med}.",
        "esenciální hypertenze",
        "I10",
        "perindopril 5 mg",
    ),
    (
        "tr",
        "clinical",
        "Hasta protokol no: {m}. Tanı: {dx} ({icd}). Tedavi: {med}.",
        "tip 2 diabetes mellitus",
        "E11.9",
        "metformin 850 mg",
    ),
]
for lang, scen, tpl, dx, icd, med in CLIN:
    m, d = mrn(), dob("us")
    text = fill(tpl, m=m, dob=d, dx=dx, icd=icd, med=med)
    spans = [(m, "medical_record"), (dx, "diagnosis"), (icd, "diagnosis"), (med, "medication")]
    if "{dob}" in tpl:
        spans.insert(1, (d, "date_of_birth"))
    pos(text, spans, scen, lang)
n = nhs_number()
pos(
    f"NHS number {n}. Referred to memory clinic for mild cognitive impairment.",
    [(n, "medical_record"), ("mild cognitive impairment", "diagnosis")],
    "clinical",
    "en",
)
n = nhs_number()
pos(
    f"Hi, my NHS no. is {n} - I need a repeat of my levothyroxine 75 micrograms please",
    [(n, "medical_record"), ("levothyroxine 75 micrograms", "medication")],
    "email",
    "en",
)
m = mrn()
pos(
    f"Patient ID {m} - seen in outpatient clinic, next review in 6 weeks",
    [(m, "medical_record")],
    "clinical",
    "en",
)
for lang, scen, text, spans in [
    (
        "en",
        "chat",
        "doc says I have early-stage endometriosis, starting dienogest 2 mg tomorrow",
        [("early-stage endometriosis", "diagnosis"), ("dienogest 2 mg", "medication")],
    ),
    (
        "en",
        "notes",
        "pick up sertraline 50 mg + lorazepam 1 mg from CVS",
        [("sertraline 50 mg", "medication"), ("lorazepam 1 mg", "medication")],
    ),
    (
        "en",
        "email",
        "I won't be in today, the flare-up of my ulcerative colitis is back.",
        [("ulcerative colitis", "diagnosis")],
    ),
    (
        "en",
        "chat",
        "my psychiatrist switched me to quetiapine 25 mg for the bipolar II disorder",
        [("quetiapine 25 mg", "medication"), ("bipolar II disorder", "diagnosis")],
    ),
    (
        "en",
        "search",
        "adderall xr 20 mg side effects adult ADHD",
        [("adderall xr 20 mg", "medication"), ("adult ADHD", "diagnosis")],
    ),
    (
        "de",
        "chat",
        "hab seit Montag Ibuprofen 600 mg wegen meiner Migräne mit Aura",
        [("Ibuprofen 600 mg", "medication"), ("Migräne mit Aura", "diagnosis")],
    ),
    (
        "es",
        "chat",
        "me han diagnosticado hipotiroidismo, tomo levotiroxina 75 mcg",
        [("hipotiroidismo", "diagnosis"), ("levotiroxina 75 mcg", "medication")],
    ),
    (
        "it",
        "chat",
        "devo ritirare in farmacia l'insulina glargine 20 unità",
        [("insulina glargine 20 unità", "medication")],
    ),
    (
        "fr",
        "email",
        "Suite à mon diagnostic de sclérose en plaques rémittente, je serai absent jeudi.",
        [("sclérose en plaques rémittente", "diagnosis")],
    ),
    (
        "nl",
        "chat",
        "de huisarts heeft me oxazepam 10 mg voorgeschreven voor de paniekstoornis",
        [("oxazepam 10 mg", "medication"), ("paniekstoornis", "diagnosis")],
    ),
    ("pl", "search", "sertralina 50 mg a alkohol", [("sertralina 50 mg", "medication")]),
    (
        "pt",
        "chat",
        "tô tomando fluoxetina 20 mg por causa da depressão",
        [("fluoxetina 20 mg", "medication"), ("depressão", "diagnosis")],
    ),
    (
        "no",
        "chat",
        "legen sier jeg har astma, fikk Ventoline 0,1 mg/dose",
        [("astma", "diagnosis"), ("Ventoline 0,1 mg/dose", "medication")],
    ),
]:
    pos(text, spans, scen, lang)

# ---------------------------------------------------------------- passports
PP = "CFGHJKLMNPRTVWXYZ0123456789"
single(
    [
        ("en", "form", "Passport No.: {v}", lambda: str(R.randint(5, 9)) + digits(8)),
        ("en", "form", "UK passport number {v}", lambda: "1" + digits(8)),
        (
            "en",
            "chat",
            "passport no is {v} expiry 2031",
            lambda: R.choice("JKLMNPRSTVZ") + digits(7),
        ),
        ("en", "form", "Passport: {v}", lambda: letters(2) + digits(6)),
        ("en", "form", "Passport number: {v}", lambda: "P" + R.choice("ABCD") + digits(7)),
        (
            "de",
            "form",
            "Reisepassnummer: {v}",
            lambda: "C" + "".join(R.choice(PP) for _ in range(8)),
        ),
        ("fr", "form", "N° de passeport : {v}", lambda: digits(2) + letters(2) + digits(5)),
        ("it", "form", "Numero passaporto: {v}", lambda: "Y" + letters(1) + digits(7)),
        ("es", "form", "Nº de pasaporte: {v}", lambda: "PA" + letters(1) + digits(6)),
        (
            "nl",
            "form",
            "Paspoortnummer: {v}",
            lambda: (
                "N"
                + letters(1, "ABCDEFGHIJKLMNPQRSTUVWXYZ")
                + "".join(R.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(6))
                + digits(1)
            ),
        ),
        ("pl", "form", "Numer paszportu: {v}", lambda: "E" + letters(1) + digits(7)),
        ("pt", "form", "Número do passaporte: {v}", lambda: "F" + letters(1) + digits(6)),
        ("tr", "form", "Pasaport No: {v}", lambda: "U" + digits(8)),
        ("da", "form", "Pasnummer: {v}", lambda: digits(9)),
        ("fi", "form", "Passin numero: {v}", lambda: letters(2) + digits(7)),
        ("cs", "form", "Číslo pasu: {v}", lambda: digits(8)),
        ("no", "chat", "passnummeret mitt er {v}", lambda: letters(2) + digits(7)),
    ],
    "passport",
)

# ---------------------------------------------------------------- driving licences
single(
    [
        ("en", "form", "Driver's license #: {v}", lambda: R.choice("ABDEFGNSY") + digits(7)),
        ("en", "form", "DL No. {v} (NY)", lambda: f"{digits(3)} {digits(3)} {digits(3)}"),
        (
            "en",
            "form",
            "Florida DL: {v}",
            lambda: (
                f"{R.choice('BMSW')}{digits(3)}-{digits(3)}-{digits(2)}-{digits(3)}-{digits(1)}"
            ),
        ),
        (
            "en",
            "form",
            "Driving licence number: {v}",
            lambda: uk_dl("Harlow", "JE", 1984, 6, 14, True),
        ),
        (
            "en",
            "chat",
            "my licence no. is {v} (NSW) if you need it for the rental",
            lambda: digits(8),
        ),
        (
            "en",
            "form",
            "Driver's licence: {v} (Ontario)",
            lambda: f"{letters(1)}{digits(4)}-{digits(5)}-{digits(5)}",
        ),
        ("en", "form", "DL No: {v}", lambda: f"MH12 20{R.randint(10, 22)}{digits(7)}"),
        (
            "de",
            "form",
            "Führerscheinnummer: {v}",
            lambda: "B0" + "".join(R.choice(U + D) for _ in range(9)),
        ),
        ("it", "form", "Numero patente: {v}", lambda: letters(2) + digits(7) + letters(1)),
        ("fr", "form", "N° de permis de conduire : {v}", lambda: digits(12)),
        ("nl", "form", "Rijbewijsnummer: {v}", lambda: digits(10)),
        ("pl", "form", "Numer prawa jazdy: {v}", lambda: f"{digits(5)}/{digits(2)}/{digits(4)}"),
        ("es", "form", "Permiso de conducir nº {v}", es_dni),
        ("pt", "form", "CNH nº {v}", lambda: digits(11)),
    ],
    "drivers_licence",
)


# ================================================================ tricky negatives
def b64(n):
    return base64.b64encode(bytes(R.getrandbits(8) for _ in range(n))).decode()


def hx(n):
    return "".join(R.choice("0123456789abcdef") for _ in range(n))


def uid():
    return str(uuid.UUID(int=R.getrandbits(128), version=4))


for lang, scen, text in [
    ("en", "code", f'<img src="data:image/png;base64,{b64(48)}" alt="logo">'),
    ("en", "code", f'"avatar_thumb": "{b64(36)}",'),
    (
        "en",
        "email",
        f"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n{b64(57)}",
    ),
    ("en", "shell", f"echo '{b64(24)}' | base64 -d > fixture.bin"),
    ("en", "code", f"ca.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t{b64(42)}"),
    ("en", "code", f"src: url(data:font/woff2;base64,{b64(40)}) format('woff2');"),
    ("en", "code", f'payload = base64.b64decode("{b64(30)}")  # protobuf sample'),
    ("de", "notes", f"Testdaten (Base64): {b64(27)}"),
    ("es", "code", f'// imagen de ejemplo\nconst icono = "{b64(33)}";'),
    ("pl", "code", f'zalacznik_b64 = "{b64(21)}"'),
    ("en", "code", f'  body: "{b64(45)}"\n  isBase64Encoded: true'),
]:
    neg(text, "base64_data", scen, lang)

for lang, scen, text in [
    ("en", "shell", f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{b64(32)[:43]} sam@thinkpad"),
    ("en", "code", f"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ{b64(90)} deploy-key"),
    (
        "en",
        "code",
        f"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA{b64(60)}\n-----END PUBLIC KEY-----",
    ),
    ("en", "email", "My PGP fingerprint: " + " ".join(hx(4).upper() for _ in range(10))),
    (
        "en",
        "notes",
        "age recipient: age1"
        + "".join(R.choice("qpzry9x8gf2tvdw0s3jn54khce6mua7l") for _ in range(58)),
    ),
    ("en", "code", f"[Peer]\nPublicKey = {b64(32)}\nAllowedIPs = 10.8.0.0/24"),
    ("en", "chat", f"contract address 0x{hx(40)} is the public one"),
    ("en", "code", f"github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{b64(32)[:43]}"),
    ("de", "notes", f"öffentlicher Schlüssel (minisign): RWQ{b64(39)[:53]}"),
    ("fr", "email", "Empreinte de la clé publique SSH : SHA256:" + b64(32)[:43]),
]:
    neg(text, "public_key", scen, lang)

for lang, scen, text in [
    ("en", "shell", f"{hx(64)}  ubuntu-24.04.1-desktop-amd64.iso"),
    ("en", "notes", f"md5: {hx(32)}"),
    ("en", "code", f'"integrity": "sha512-{b64(64)}"'),
    ("en", "shell", f"docker pull registry.example.test/api@sha256:{hx(64)}"),
    ("en", "code", f'ETag: "{hx(32)}"'),
    ("en", "code", f"requests==2.32.3 --hash=sha256:{hx(64)}"),
    ("en", "notes", f"cache key: node-modules-{hx(40)}"),
    ("it", "notes", f"checksum SHA-256 del file: {hx(64)}"),
    ("nl", "chat", f"klopt de hash? {hx(64)[:16]}…"),
    ("pt", "notes", f"CRC32: {hx(8)}"),
    ("cs", "notes", f"otisk SHA-1: {hx(40)}"),
]:
    neg(text, "hash", scen, lang)

for lang, scen, text in [
    ("en", "shell", f"git cherry-pick {hx(40)}"),
    ("en", "chat", f"Reverted {hx(7)} (fix payroll rounding), will redo tomorrow"),
    ("en", "notes", "Merge pull request #4412 from acme/feat/iban-validation"),
    ("en", "shell", f"HEAD is now at {hx(7)} bump deps"),
    ("en", "shell", f"[main {hx(7)}] docs: update README\n 2 files changed, 14 insertions(+)"),
    ("en", "chat", f"fixed in {hx(12)}, deploying now"),
    ("en", "shell", f"git log --oneline {hx(7)}..{hx(7)}"),
    ("en", "code", f"BUILD_REVISION={hx(40)}"),
    ("de", "chat", f"der Bug kam mit Commit {hx(8)} rein"),
    ("fi", "chat", f"katso commit {hx(7)}"),
]:
    neg(text, "commit", scen, lang)

for lang, scen, text in [
    ("en", "notes", f"request_id={uid()} status=500"),
    ("en", "chat", f"trace {uid()} shows the timeout"),
    ("en", "code", f"SELECT * FROM orders WHERE id = '{uid()}';"),
    ("en", "code", f"X-Correlation-ID: {uid()}"),
    ("en", "shell", f"UUID={uid()} /boot ext4 defaults 0 2"),
    ("en", "notes", f"Device {uid().upper()} enrolled in MDM"),
    ("de", "chat", f"Ticket-ID {uid()} bitte prüfen"),
    ("es", "notes", f"ID de la transacción de prueba: {uid()}"),
    ("fr", "chat", f"l'instance {uid()} a été arrêtée"),
    ("tr", "notes", f"oturum kimliği {uid()}"),
    ("en", "code", f'tenant_id: "{uid()}"'),
]:
    neg(text, "uuid", scen, lang)

for lang, scen, text in [
    ("en", "chat", "Upgraded node from 18.19.1 to 20.11.0"),
    ("en", "shell", "Linux build-01 6.8.0-45-generic #45-Ubuntu SMP PREEMPT_DYNAMIC x86_64"),
    ("en", "notes", "Release 2026.12.1 is out, next is 2027.01.0"),
    ("en", "code", "OID 1.2.840.113549.1.1.11 (sha256WithRSAEncryption)"),
    ("en", "shell", "pip install django==4.2.16 psycopg==3.2.3"),
    (
        "en",
        "code",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0.6778.85 Safari/537.36",
    ),
    ("en", "notes", "firmware v3.14.159-rc2 on the infusion pump test rig"),
    ("it", "chat", "versione 12.4.1 rilasciata ieri"),
    ("pl", "notes", "Windows 10 wersja 10.0.19045.5131"),
    ("en", "shell", "libssl3/noble-updates 3.0.13-0ubuntu3.4 amd64"),
    ("da", "chat", "vi kører stadig 2.7.18 på den gamle server"),
]:
    neg(text, "version", scen, lang)

for lang, scen, text in [
    (
        "en",
        "shell",
        "docker run -d -p 5432:5432 -e POSTGRES_PASSWORD_FILE=/run/secrets/pg postgres:16",
    ),
    ("en", "shell", "ssh -p 2222 deploy@203.0.113.7"),
    ("en", "shell", "mysql -u root -p"),
    ("en", "shell", 'export DB_PASSWORD="$(vault kv get -field=password secret/app/db)"'),
    ("en", "shell", "psql postgresql://app@localhost:5432/app_dev"),
    ("en", "shell", "read -s -p 'Password: ' PGPASSWORD"),
    ("en", "shell", "htpasswd -c /etc/nginx/.htpasswd admin"),
    ("en", "shell", "kubectl create secret generic db-creds --from-file=password=./pw.txt"),
    ("en", "shell", "grep -rn 'password' src/ | wc -l"),
    ("en", "shell", "python manage.py changepassword admin"),
    ("en", "shell", "git push origin feat/passport-scan"),
    ("en", "shell", "export PGPASSWORD=${DB_PASSWORD:?missing}"),
    ("de", "shell", "ls -la ~/Dokumente/Steuer/2025"),
    ("en", "code", 'password = os.environ["SMTP_PASSWORD"]'),
]:
    neg(text, "shell", scen, lang)

for lang, scen, text in [
    ("en", "email", "Your order #112-4837261-5529012 has shipped."),
    ("en", "notes", "Invoice INV-2026-004512 is overdue"),
    ("en", "notes", "ISBN 978-3-16-148410-0"),
    ("en", "chat", "UPS tracking 1Z999AA10123456784"),
    ("de", "notes", "EAN 4006381333931, Lagerplatz B-12"),
    ("en", "chat", "PAY-1182 and PAY-1190 are blockers for the release"),
    ("en", "notes", "SKU AMX-500-21-CAP reorder"),
    ("en", "notes", "PO 4500123456 approved by finance"),
    ("nl", "notes", "Container MSCU4567891 staat in Rotterdam"),
    ("es", "notes", "Pedido nº 2026-000781 entregado"),
    ("fr", "notes", "Dossier fournisseur FRN-00421 mis à jour"),
    ("en", "code", "ERROR_CODE_PAYMENT_DECLINED = 4012"),
]:
    neg(text, "identifier", scen, lang)

for lang, scen, text in [
    ("en", "chat", "https://github.com/acme/payroll/pull/4121"),
    ("en", "notes", "https://en.wikipedia.org/wiki/International_Bank_Account_Number"),
    ("en", "chat", "meet here https://www.google.com/maps/@52.3702,4.8952,15z"),
    ("en", "notes", "https://example.com/reset-password"),
    ("en", "chat", "see https://docs.python.org/3/library/hashlib.html#hashlib.sha256"),
    ("en", "chat", f"https://www.youtube.com/watch?v={rnd(11, ALNUM + '-_')}"),
    ("en", "notes", "http://localhost:8080/api/v1/patients?page=2&size=50"),
    ("en", "code", 'BASE_URL = "https://bank.example.test/open-banking/v3.1/aisp/accounts"'),
    ("de", "search", "https://www.bundesregierung.de/breg-de/aktuelles"),
    ("it", "search", "https://www.agenziaentrate.gov.it/portale/schede/pagamenti"),
    ("pt", "chat", "https://www.gov.br/receitafederal/pt-br"),
]:
    neg(text, "url", scen, lang)

for lang, scen, text in [
    ("en", "notes", "Password must be at least 12 characters and include a number."),
    ("en", "chat", "Reminder: the patient portal release is Thursday."),
    ("en", "chat", "Can you call me tomorrow after the standup?"),
    ("en", "chat", "my birthday party is on Saturday, bring snacks!"),
    ("en", "email", "We need to rotate the API keys before the audit."),
    ("en", "notes", "Enter your card number and expiry date on the next screen."),
    ("de", "notes", "Das Passwort muss mindestens 12 Zeichen lang sein."),
    ("es", "notes", "La contraseña debe tener al menos 8 caracteres."),
    ("it", "notes", "Il numero di telefono va inserito con il prefisso internazionale."),
    ("fr", "email", "Je vous envoie le RIB de la société par courrier."),
    ("nl", "chat", "Vul je IBAN in bij de onkostendeclaratie."),
    ("pl", "notes", "Podaj numer PESEL w formularzu rejestracyjnym."),
    ("pt", "notes", "Informe o CPF do cliente no cadastro."),
    ("da", "notes", "Husk at opdatere din adgangskode hver 90. dag."),
    ("tr", "notes", "Kimlik numarası alanı zorunludur."),
    ("no", "chat", "Har du sendt passbildet til HR?"),
]:
    neg(text, "prose", scen, lang)

for lang, scen, text in [
    ("en", "notes", "Metformin is first-line therapy for type 2 diabetes unless contraindicated."),
    ("en", "notes", "Inventory: Amoxicillin 500 mg caps x21 - reorder level 40 - Store 0412"),
    ("en", "notes", "Protocol v3: participants randomised 1:1 to sertraline 50 mg or placebo."),
    ("en", "notes", "ICD-10 chapter V (F00-F99) covers mental and behavioural disorders."),
    ("en", "notes", "CAPA-0231: occlusion alarm fails at flow rates above 999 mL/h."),
    ("en", "email", "Formulary update: atorvastatin 20 mg replaces simvastatin 40 mg from 1 Jan."),
    (
        "de",
        "notes",
        "Die Leitlinie empfiehlt ACE-Hemmer als Mittel der ersten Wahl bei Hypertonie.",
    ),
    ("it", "notes", "Scheda tecnica: paracetamolo 1000 mg compresse, confezione da 16."),
    ("es", "notes", "Guía clínica: el asma se clasifica en intermitente y persistente."),
    ("en", "notes", "Lecture 7: pathophysiology of Crohn's disease"),
    ("en", "email", "Q3 report: 1,204 flu vaccinations administered across 38 pharmacies."),
    ("fr", "notes", "Notice : ibuprofène 400 mg, ne pas dépasser 3 comprimés par jour."),
]:
    neg(text, "clinical", scen, lang)

for lang, scen, text in [
    ("en", "notes", "Total: 1,234,567.89 EUR (Q3 revenue)"),
    ("en", "shell", "2026-12-07 09:46:50,123 INFO worker started"),
    ("en", "chat", "monitor is 1920x1080 at 144 Hz"),
    ("en", "notes", "build 20261207.4 passed 4512/4512 tests"),
    ("en", "notes", "Latency p99 = 412 ms, p50 = 38 ms"),
    ("de", "notes", "Konto 8400 Erlöse 19 % USt"),
    ("en", "code", "port = 5432\nmax_connections = 200\nshared_buffers = 4GB"),
    ("pl", "notes", "Tabela 3: 1998 2003 2008 2013 2018 2023"),
    ("nl", "chat", "Prijs: € 1.299,00 incl. btw"),
    ("es", "notes", "Pedido de 4 unidades x 12,50 € = 50,00 €"),
    ("en", "notes", "Meeting room capacity 12, floor 4, building 1032"),
    ("fi", "notes", "Yhteensä 3 450,00 € (alv 25,5 %)"),
]:
    neg(text, "numbers", scen, lang)

# ================================================================ write + validate
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fresh2_typed.jsonl")
with open(OUT, "w", encoding="utf-8") as f:
    f.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in LINES)

if __name__ == "__main__":
    from collections import Counter

    rows = [json.loads(x) for x in open(OUT, encoding="utf-8")]
    for r in rows:
        for a, b, c in r["spans"]:
            assert 0 <= a < b <= len(r["text"]) and r["text"][a:b].strip() == r["text"][a:b]
    print(
        len(rows),
        "lines;",
        sum(1 for r in rows if r["spans"]),
        "positive;",
        sum(1 for r in rows if not r["spans"]),
        "negative",
    )
    print(sorted(Counter(c for r in rows for _, _, c in r["spans"]).items()))
    print(sorted(Counter(r["lang"] for r in rows).items()))
    print(sorted(Counter(r.get("kind") for r in rows if not r["spans"]).items()))
