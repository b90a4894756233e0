"""Passwords in prose and public random shapes (issue 20): cues in several languages and a
likeness score find passwords outside a prompt; keys, digests and media meant to be
shared are not redacted for looking random. All values are invented."""

from __future__ import annotations

import base64
import hashlib

import pytest

from privacy import categories as cat
from privacy.detect_passwords import password_likeness
from privacy.detectors import detect


def redacted(text: str) -> set[str]:
    return {text[s.start : s.end] for s in detect(text)}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("my new password is Qr7!tuvw9", "Qr7!tuvw9"),
        ("my pass for the vpn is now Qr7!tuvw9 ok?", "Qr7!tuvw9"),
        ("hey, wifi pw is Tulip63 btw", "Tulip63"),
        ("the wifi password? it's Lemon!42", "Lemon!42"),
        ("user: jdoe pass: Lemon!42", "Lemon!42"),
        ("pw: S4ffron19", "S4ffron19"),
        ("Password for wifi: sunflower88", "sunflower88"),
        ("login: jdoe / Winter2026!", "Winter2026!"),
        ("router admin / 35thistleBAS!", "35thistleBAS!"),
        ("please use Str0ngPass! as password for the test user", "Str0ngPass!"),
        ("Passwort: Grünkohl#77 (bitte nicht weitersagen)", "Grünkohl#77"),
        ("das Kennwort lautet Fahrrad2024", "Fahrrad2024"),
        ("le mot de passe du wifi c'est utzp85945?", "utzp85945?"),
        ("la clave del wifi es tortuga2020", "tortuga2020"),
        ("contraseña: 52violetPEP!", "52violetPEP!"),
        ("la password nuova è juiu8096#", "juiu8096#"),
        ("wachtwoord = Fietsen!2024", "Fietsen!2024"),
        ("a senha é Pepper?2013", "Pepper?2013"),
        ("o PIN do cartão é 4829", "4829"),
        ("echo 'OcOxSDUlPZV9' | sudo -S systemctl restart nginx", "OcOxSDUlPZV9"),
        ("curl -u ops:Zk3!vq9x https://ci.example.com/api", "Zk3!vq9x"),
        ("htpasswd -b .htpasswd jdoe Pa55word!", "Pa55word!"),
    ],
)
def test_a_password_after_a_cue_is_redacted(text: str, secret: str) -> None:
    assert secret in redacted(text)


def test_sentence_punctuation_after_the_password_is_kept() -> None:
    text = "the new password is Hunter42."
    assert redacted(text) == {"Hunter42"}
    assert {s.category for s in detect(text)} <= {cat.PASSWORD, cat.CREDENTIAL}


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my password again, can you send the reset link?",
        "the password is in the team vault under otter",
        "Passwords must be at least 12 characters long.",
        "password reset emails are delayed again",
        "please don't share your password with anyone",
        "mot de passe oublié, je redemande un lien",
        "hab mein Passwort vergessen, kannst du es zurücksetzen?",
        "¿dónde guardaste la contraseña del router?",
        "change password every 90 days (policy 12)",
        "passwd jdoe",
        "def validate_password_strength(password: str) -> bool:",
        "password = request.form['password']",
        "if (!user.passwordHash) throw new AuthError('missing');",
        "pass the salt please",
        # Lines of this project's own docs that an early version flagged:
        "| systemd user unit / LaunchAgent / scheduled task |",
        "`run` refuses root without passwordless sudo. A chunk is sealed on",
        "`agent/setup/` — `init`'s home, the login service, doctor's checks.",
        # ... and of its code:
        '"(or pass --allow-root to run as root anyway)"',
        "# An object that cannot say what it is may be a password field: True",
        'if not (root / "NativeMessagingHosts" / f"{HOST_NAME}.json").is_file():',
        "and what the X11 listener would pass: Key members, and keys translated",
    ],
)
def test_talk_about_passwords_is_not_a_password(text: str) -> None:
    assert detect(text) == []


def test_likeness_ranks_passwords_above_words() -> None:
    assert password_likeness("Qr7!tuvw9") > password_likeness("Tulip63") > 0.35
    assert password_likeness("stored") < 0.35
    assert password_likeness("zurücksetzen?") < 0.35
    assert password_likeness("the") == 0.0
    assert password_likeness("123") == 0.0


def _ssh_ed25519() -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + hashlib.sha256(b"k").digest()
    return base64.b64encode(blob).decode()


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + hashlib.sha512(b"img").digest()).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"ssh-ed25519 {_ssh_ed25519()} jo@laptop",
        f"authorized key: {_ssh_ed25519()}",
        "age -r age1dyw6u4zr00vxnkjvcdxk0z5m3fnj4xyq788qkxk07nufnnjw9q3rfaec5e -o x.age x",
        f"data:image/png;base64,{PNG}",
        f'<img src="data:image/png;base64,{PNG}">',
        f"icon = base64.b64decode('{PNG}')",
        'integrity="sha384-' + base64.b64encode(hashlib.sha384(b"x").digest()).decode() + '"',
        "docker pull registry.example.com/app@sha256:" + hashlib.sha256(b"i").hexdigest(),
        "image: nginx:1.25.3-alpine@sha256:" + hashlib.sha256(b"n").hexdigest(),
        "git show " + hashlib.sha1(b"c").hexdigest(),  # noqa: S324 - a fake commit id
        "kubectl rollout restart deploy/api-7f9c8d -n prod",
        "chrome 126.0.6478.126",
        "request_id = '123e4567-e89b-42d3-a456-426614174000'",
        'public_key = "k9JmT4xQ2vLp8RzW3nB6cY5dF7gH1jK0mN2pQ4rS6tU="   # from `org keygen`',
        "| hook cost, median (all callbacks) | 3.72 µs | ≤ 5 µs | round medians 3.72 3.83 |",
    ],
)
def test_public_random_shapes_are_not_redacted(text: str) -> None:
    assert detect(text) == []


def test_a_pgp_public_block_typed_whole_is_not_redacted() -> None:
    body = base64.b64encode(hashlib.sha512(b"pgp").digest() * 2).decode()
    block = (
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
        + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        + "\n-----END PGP PUBLIC KEY BLOCK-----"
    )
    assert detect(block) == []


def test_a_secret_cue_still_redacts_a_public_looking_value() -> None:
    digest = hashlib.sha256(b"s").hexdigest()
    assert detect(f"API_TOKEN={digest}") != []
    assert detect(f"password: {_ssh_ed25519()}") != []


def test_a_random_token_that_is_no_known_public_shape_is_still_redacted() -> None:
    token = "kT9fQ2xLmZ7pV4rW8sY3bN6c"
    assert redacted(f"here: {token}") == {token}
