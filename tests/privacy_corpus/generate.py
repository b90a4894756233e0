"""Generate the privacy corpus: FAKE sensitive strings in typed text, and tricky negatives.

Everything here is synthetic: card numbers use published test BINs with a computed
Luhn digit, SSNs are random valid-format numbers tied to no name, IBANs are built
from random account numbers with a computed mod-97 check, e-mail addresses are at the
reserved example.* domains, phone numbers are in the fictional 555-01xx (US) and
Ofcom drama (UK) ranges, and tokens are random strings in each vendor's format.

    .venv/bin/python tests/privacy_corpus/generate.py   # rewrites the .jsonl files

positives.jsonl: {"text", "category", "span": [start, end]} (the span of the secret)
negatives.jsonl: {"text", "kind"} (nothing in it should be redacted)
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from pathlib import Path

from stdnum import iban as stdnum_iban
from stdnum import luhn

HERE = Path(__file__).parent
SEED = 20240501
PER_CATEGORY = 100
NEGATIVES_PER_KIND = 100

rng = random.Random(SEED)
B62 = string.ascii_letters + string.digits
B64 = B62 + "+/"
B64URL = B62 + "-_"
LD = string.ascii_lowercase + string.digits
UD = string.ascii_uppercase + string.digits
NAMES = [
    "alex",
    "sam",
    "jordan",
    "taylor",
    "casey",
    "robin",
    "morgan",
    "jamie",
    "riley",
    "quinn",
    "avery",
    "drew",
    "kai",
    "noor",
    "lee",
    "mika",
]
WORDS = [
    "river",
    "maple",
    "orbit",
    "falcon",
    "copper",
    "lantern",
    "meadow",
    "pixel",
    "harbor",
    "quartz",
    "tundra",
    "velvet",
    "willow",
    "zephyr",
    "cobalt",
    "ember",
]


def rand(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def mixed(alphabet: str, n: int) -> str:
    """A random string with upper, lower and digit characters (as real tokens have)."""
    while True:
        s = rand(alphabet, n)
        if (
            any(c.isupper() for c in s)
            and any(c.islower() for c in s)
            and any(c.isdigit() for c in s)
        ):
            return s


def password() -> str:
    return (
        rng.choice(WORDS).capitalize()
        + rng.choice("!#%&*-+?")
        + str(rng.randint(10, 9999))
        + rng.choice(WORDS)[:3]
    )


# --- fake secrets ------------------------------------------------------------------------

TEST_BINS = {
    16: [
        "411111",
        "424242",
        "400005",
        "555555",
        "510510",
        "222300",
        "601111",
        "353011",
        "620000",
        "401288",
    ],
    15: ["378282", "371449", "340000"],
    14: ["305693", "361111"],
}


def card() -> str:
    length = rng.choice([16, 16, 16, 15, 14])
    body = rng.choice(TEST_BINS[length]) + rand(string.digits, length - 7)
    digits = body + luhn.calc_check_digit(body)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return digits
    sep = " " if style == "space" else "-"
    groups = {16: (4, 4, 4, 4), 15: (4, 6, 5), 14: (4, 6, 4)}[length]
    out, pos = [], 0
    for g in groups:
        out.append(digits[pos : pos + g])
        pos += g
    return sep.join(out)


def ssn() -> str:
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _mod97_number(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text))


def iban() -> str:
    makers: list[tuple[str, Callable[[], str]]] = [
        ("DE", lambda: rand(string.digits, 18)),
        ("GB", lambda: rng.choice(["NWBK", "BARC", "MIDL", "LOYD"]) + rand(string.digits, 14)),
        ("NL", lambda: rng.choice(["ABNA", "INGB", "RABO"]) + rand(string.digits, 10)),
        ("AT", lambda: rand(string.digits, 16)),
        ("CH", lambda: rand(string.digits, 17)),
    ]
    country, bban = rng.choice(makers)
    for _ in range(100):
        b = bban()
        check = 98 - _mod97_number(b + country + "00") % 97
        value = f"{country}{check:02d}{b}"
        if stdnum_iban.is_valid(value):
            if rng.random() < 0.5:
                return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
            return value
    raise RuntimeError("could not build a valid IBAN")


def email() -> str:
    sep = rng.choice([".", "_", ""])
    return (
        f"{rng.choice(NAMES)}{sep}{rng.choice(NAMES)}{rng.randint(1, 99)}@"
        f"{rng.choice(['example.com', 'example.org', 'example.net', 'mail.example.com'])}"
    )


def phone() -> str:
    area = rng.choice(["201", "212", "415", "646", "312", "617", "206"])
    line = f"01{rng.randint(0, 99):02d}"
    return rng.choice(
        [
            f"({area}) 555-{line}",
            f"{area}-555-{line}",
            f"+1 {area} 555 {line}",
            f"{area}.555.{line}",
            f"+1-{area}-555-{line}",
            f"+44 20 7946 0{rng.randint(0, 999):03d}",
            f"+44 7700 900{rng.randint(0, 999):03d}",
        ]
    )


def aws_key() -> str:
    return rng.choice(["AKIA", "ASIA"]) + rand(string.ascii_uppercase + "234567", 16)


def aws_secret() -> str:
    return mixed(B64, 40)


def github_token() -> str:
    kind = rng.random()
    if kind < 0.6:
        return "ghp_" + mixed(B62, 36)
    if kind < 0.8:
        return "gho_" + mixed(B62, 36)
    return "github_pat_" + mixed(B62, 22) + "_" + mixed(B62, 59)


def slack_token() -> str:
    return (
        rng.choice(["xoxb", "xoxp"])
        + f"-{rand(string.digits, 12)}-{rand(string.digits, 13)}-"
        + mixed(B62, 24)
    )


def stripe_key() -> str:
    return rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + mixed(B62, 24)


def google_key() -> str:
    return "AIza" + mixed(B64URL, 35)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt() -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(
        json.dumps(
            {
                "sub": str(rng.randint(10**6, 10**7)),
                "name": "Test User",
                "iat": rng.randint(1_600_000_000, 1_700_000_000),
            }
        ).encode()
    )
    return f"{header}.{payload}.{_b64url(rng.randbytes(32))}"


def pem() -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    body = base64.b64encode(rng.randbytes(rng.choice([96, 144, 192]))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        f"-----BEGIN {kind}PRIVATE KEY-----\n"
        + "\n".join(lines)
        + f"\n-----END {kind}PRIVATE KEY-----"
    )


def high_entropy() -> str:
    return mixed(B62, rng.choice([24, 32, 40, 48]))


# --- sentences around them -------------------------------------------------------------

Template = tuple[str, str]  # text before and after the secret


def positives() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def add(category: str, make: Callable[[], str], templates: list[Template]) -> None:
        for _ in range(PER_CATEGORY):
            before, after = rng.choice(templates)
            secret = make()
            before = before.format(name=rng.choice(NAMES).capitalize(), word=rng.choice(WORDS))
            text = before + secret + after
            out.append(
                {
                    "text": text,
                    "category": category,
                    "span": [len(before), len(before) + len(secret)],
                }
            )

    add(
        "payment_card",
        card,
        [
            ("my card number is ", " exp 12/29"),
            ("card: ", ""),
            ("pay with ", " please"),
            ("{name}, use the company card ", " for the hotel"),
            ("", " cvv on the back"),
            ("charge it to ", " and send the receipt"),
        ],
    )
    add(
        "ssn",
        ssn,
        [
            ("SSN ", ""),
            ("my social security number is ", "."),
            ("{name}'s ssn: ", " for the form"),
            ("", " (ssn)"),
            ("employee id check: ", " ok"),
        ],
    )
    add(
        "iban",
        iban,
        [
            ("IBAN: ", ""),
            ("please transfer to ", " by Friday"),
            ("account ", " ({name})"),
            ("new bank details ", " thanks"),
        ],
    )
    add(
        "email",
        email,
        [
            ("send it to ", ""),
            ("cc ", " on the thread"),
            ("my personal address is ", " fyi"),
            ("", " wrote:"),
            ("contact {name} at ", " about the {word} project"),
        ],
    )
    add(
        "phone",
        phone,
        [
            ("call me at ", ""),
            ("my cell is ", " after 5pm"),
            ("{name}'s number: ", ""),
            ("text ", " when you land"),
            ("reach the front desk on ", " ext 12"),
        ],
    )
    add(
        "aws_key",
        aws_key,
        [
            ("aws_access_key_id = ", ""),
            ("key id ", " in us-east-1"),
            ("", " is the access key"),
            ("export AWS_ACCESS_KEY_ID=", ""),
        ],
    )
    add(
        "secret_key",
        aws_secret,
        [
            ("aws_secret_access_key = ", ""),
            ("the secret is ", ""),
            ("", " <- rotate this"),
            ("secret: ", ""),
        ],
    )
    add(
        "github_token",
        github_token,
        [
            ("git remote set-url origin https://", "@github.com/x/y"),
            ("token ", ""),
            ("gh auth login --with-token ", ""),
            ("use ", " for the CI bot"),
        ],
    )
    add("slack_token", slack_token, [("SLACK_BOT=", ""), ("bot token ", " for #alerts"), ("", "")])
    add(
        "stripe_key",
        stripe_key,
        [
            ("stripe key ", ""),
            ("Stripe.api_key = '", "'"),
            ("curl -u ", ": https://api.stripe.com/v1/charges"),
        ],
    )
    add("google_key", google_key, [("maps key ", ""), ("?key=", "&q=coffee"), ("apikey ", "")])
    add(
        "jwt",
        jwt,
        [
            ("Authorization: Bearer ", ""),
            ("jwt ", " expired?"),
            ("curl -H 'Authorization: Bearer ", "' https://api.example.com/me"),
        ],
    )
    add(
        "private_key",
        pem,
        [("", ""), ("here is the deploy key\n", "\n"), ("cat > id_rsa <<EOF\n", "\nEOF")],
    )
    add(
        "url_credential",
        lambda: f"{rng.choice(NAMES)}:{password()}",
        [
            ("postgres://", "@db.example.com:5432/app"),
            ("git clone https://", "@git.example.com/r.git"),
            ("amqp://", "@mq.example.com/vhost"),
            ("redis://", "@cache.example.com:6379/0"),
        ],
    )
    add(
        "credential",
        password,
        [
            ("password=", ""),
            ("export DB_PASSWORD=", ""),
            ("mysql -u root -p", " app"),
            ("DB_PASS=", " ./run.sh"),
            ("my password is ", ""),
            ("passwd: ", ""),
            ("curl --password ", " https://example.com"),
            ('"password": "', '"'),
            ("export API_TOKEN=", ""),
            ("export STRIPE_SECRET=", ""),
        ],
    )
    add(
        "password",
        password,
        [
            ("sudo apt update\n", "\n"),
            ("sudo systemctl restart nginx\n", "\n"),
            ("ssh deploy@build.example.com\n", "\n"),
            ("su -\n", "\n"),
            ("mysql -u root -p\n", "\n"),
            ("doas reboot\n", "\n"),
            ("kinit {name}@EXAMPLE.COM\n", "\n"),
            ("ssh-add ~/.ssh/id_ed25519\n", "\n"),
            ("sudo -i\n", "\n"),
            ("psql -h db -U app\n", "\n"),
        ],
    )
    add(
        "high_entropy",
        high_entropy,
        [("here it is ", " thanks"), ("", ""), ("X-Api-Key ", ""), ("session ", " (expires soon)")],
    )
    return out


# --- tricky negatives --------------------------------------------------------------------


def negatives() -> list[dict[str, object]]:
    hexd = string.hexdigits[:16]
    kinds: dict[str, Callable[[], str]] = {
        "order_number": lambda: rng.choice(
            [
                f"Order #{rand(string.digits, 3)}-{rand(string.digits, 7)}-"
                f"{rand(string.digits, 7)}",
                f"order ORD-{rand(string.digits, 6)} shipped",
                f"PO-2024-{rand(string.digits, 6)}",
                f"invoice INV{rand(string.digits, 8)} is overdue",
                f"your order {rand(string.digits, 9)} is on its way",
                f"case {rand(string.digits, 8)} closed",
            ]
        ),
        "git_hash": lambda: rng.choice(
            [
                f"git checkout {rand(hexd, 40)}",
                f"git revert {rand(hexd, 7)}",
                f"fixed in {rand(hexd, 12)}",
                f"git cherry-pick {rand(hexd, 10)} {rand(hexd, 10)}",
                f"git diff {rand(hexd, 7)}..{rand(hexd, 7)}",
            ]
        ),
        "uuid": lambda: rng.choice(
            [
                f"request id {rand(hexd, 8)}-{rand(hexd, 4)}-4{rand(hexd, 3)}-a{rand(hexd, 3)}-"
                f"{rand(hexd, 12)}",
                f"kubectl delete pod web-{rand(hexd, 9)}-{rand(LD, 5)}",
                f"SELECT * FROM users WHERE id = '{rand(hexd, 8)}-{rand(hexd, 4)}-{rand(hexd, 4)}-"
                f"{rand(hexd, 4)}-{rand(hexd, 12)}';",
            ]
        ),
        "version": lambda: rng.choice(
            [
                f"pip install numpy=={rng.randint(1, 2)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
                f"upgrade to v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}-rc."
                f"{rng.randint(1, 5)}+build.{rng.randint(1, 999)}",
                f"node {rng.randint(14, 22)}.{rng.randint(0, 20)}.{rng.randint(0, 9)} and npm "
                f"{rng.randint(6, 10)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
                f"image: postgres:{rng.randint(11, 16)}.{rng.randint(0, 9)}-alpine3."
                f"{rng.randint(14, 19)}",
                f"Linux 6.{rng.randint(1, 8)}.{rng.randint(0, 30)}-{rng.randint(1, 50)}-generic "
                "x86_64",
            ]
        ),
        "timestamp": lambda: rng.choice(
            [
                f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
                f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z",
                f"ts={rng.randint(1_600_000_000, 1_800_000_000)}",
                f"epoch ms {rng.randint(1_600_000_000_000, 1_800_000_000_000)}",
                f"meeting moved to {rng.randint(1, 12)}:{rng.randint(0, 59):02d} on "
                f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/2024",
                f"[{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}] build "
                "finished",
                f"20240{rng.randint(1, 9)}{rng.randint(10, 28)}{rand(string.digits, 6)}",
            ]
        ),
        "code": lambda: rng.choice(
            [
                "def get_user_by_id(user_id: int) -> User:",
                "password = request.form['password']",
                "if password != confirm_password: raise ValueError('mismatch')",
                "const apiKeyInput = document.getElementById('api-key');",
                "token = os.environ.get('GITHUB_TOKEN')",
                "self.secret_key = settings.SECRET_KEY",
                f"for (let i = 0; i < {rng.randint(2, 999)}; i++) {{ total += prices[i]; }}",
                "return hashlib.sha256(password.encode()).hexdigest()",
                "export PATH=$HOME/.local/bin:$PATH",
                "export NODE_ENV=production",
                "def test_privacy_detectors_payment_card_luhn_check_digit():",
                "getUserAuthenticationTokenForSession(sessionId, refreshIfExpired)",
                "class PasswordResetTokenGenerator(BaseTokenGenerator):",
                f"SELECT * FROM orders WHERE id = {rand(string.digits, 7)};",
                "x = np.linspace(0, 2 * np.pi, 1000)",
                "password: str = Field(min_length=12)",
                "docker run -p 8080:80 -v $(pwd):/app nginx:1.25",
                "mkdir -p build/output && cd build/output",
                "ssh -p 2222 deploy@build.example.com uptime",
                "the password is stored in the team vault",
                "git commit -m 'fix password reset flow'",
                "primary_key=id",
                "public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
                "aws s3 cp s3://my-bucket/reports/2024/ ./reports --recursive",
            ]
        ),
        "isbn": lambda: rng.choice(
            [
                "ISBN 978-3-16-148410-0",
                "isbn 9780306406157",
                "ISBN-10 0-306-40615-2",
                "978-0-596-52068-7 is the book",
            ]
        ),
        "tracking": lambda: rng.choice(
            [
                f"UPS 1Z{rand(string.ascii_uppercase + string.digits, 16)}",
                f"USPS tracking 9400{rand(string.digits, 18)}",
                f"FedEx {rand(string.digits, 12)}",
                f"DHL {rand(string.digits, 10)}",
            ]
        ),
        "path_url": lambda: rng.choice(
            [
                "/usr/lib/python3.11/site-packages/numpy/core/_multiarray_umath.cpython-311-x86_64"
                "-linux-gnu.so",
                f"https://github.com/example/repo/pull/{rng.randint(1, 9999)}",
                f"https://docs.example.com/api/v{rng.randint(1, 3)}/reference#section-"
                f"{rng.randint(1, 9)}",
                "~/Projects/capture-agent/tests/privacy_corpus/generate.py",
                f"C:\\Users\\{rng.choice(NAMES)}\\AppData\\Local\\Temp\\setup_"
                f"{rand(string.digits, 4)}.log",
                "git clone git@github.com:example/capture-agent.git",
            ]
        ),
        "numbers": lambda: rng.choice(
            [
                f"total ${rng.randint(1, 99)},{rand(string.digits, 3)}.{rand(string.digits, 2)}",
                f"pi is about 3.{rand(string.digits, 15)}",
                f"room {rng.randint(100, 999)}",
                f"{rng.randint(1, 50)}x{rng.randint(1, 50)} grid, seed {rand(string.digits, 9)}",
                f"IP 10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
                f"arn:aws:iam::{rand(string.digits, 12)}:role/deploy",
                f"color #{rand(hexd, 6)} and #{rand(hexd, 6)}",
                f"sha256:{rand(hexd, 64)}",
                f"{rng.randint(1000, 99999)} rows affected",
                f"port {rng.randint(1024, 65535)}",
                f"SKU-{rand(UD, 4)}-{rand(UD, 4)}",
            ]
        ),
        "prose": lambda: rng.choice(
            [
                "Can we move the standup to tomorrow morning?",
                f"The {rng.choice(WORDS)} release is blocked on the flaky integration test.",
                "Please review the pull request before Friday.",
                "I reset my password yesterday and it works now.",
                "Let's meet at the cafe on 5th street at noon.",
                "Quarterly numbers look good: revenue up 12% year over year.",
                "Our bank holiday schedule is on the wiki.",
                f"Thanks {rng.choice(NAMES).capitalize()}, that fixed it!",
                "Remember to rotate the keys before the audit.",
                "Use Ctrl+Shift+P to open the command palette.",
                "The token bucket refills at 100 requests per second.",
            ]
        ),
    }
    out: list[dict[str, object]] = []
    for kind, make in kinds.items():
        for _ in range(NEGATIVES_PER_KIND):
            out.append({"text": make(), "kind": kind})
    return out


def write(name: str, rows: list[dict[str, object]]) -> None:
    with (HERE / name).open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    write("positives.jsonl", positives())
    write("negatives.jsonl", negatives())


if __name__ == "__main__":
    main()
