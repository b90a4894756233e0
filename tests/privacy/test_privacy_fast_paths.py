"""Shortcuts in the privacy detectors give exactly the answers of the long way round."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from privacy import detectors, terminal

# Letters that occur in the token prefixes, shell specials and every kind of whitespace.
TEXT = st.text(
    alphabet=st.sampled_from(
        list("AKISGPxoaphkb_-.eyJ0123456789 \t\r\n\x0b\x0c\xa0\u2003'\"\\$#;|&=/:z")
    ),
    max_size=80,
)
TOKENS = [
    "AKIAABCDEFGHIJKLMNOP",
    "ghp_" + "a" * 36,
    "xoxb-1234567890-abc",
    "sk-" + "b" * 24,
    "sk_live_" + "c" * 20,
    "eyJabcdefghij.eyJabcdefghij.sig",
    "SG." + "d" * 16 + "." + "e" * 16,
    "npm_" + "f" * 36,
    "ya29." + "g" * 24,
    "https://hooks.slack.com/services/" + "h" * 24,
]


def _tokens_the_long_way(text: str) -> list[detectors.Span]:
    out: list[detectors.Span] = []
    for pattern, category in detectors._TOKEN_PATTERNS:
        out.extend(detectors.Span(m.start(), m.end(), category) for m in pattern.finditer(text))
    return out


@settings(max_examples=500)
@given(TEXT, st.sampled_from(["", *TOKENS]), TEXT)
def test_token_prefilter_never_hides_a_match(before: str, token: str, after: str) -> None:
    text = before + token + after
    assert [
        s
        for s in detectors.find_tokens(text)
        if s.category != "secret_key" and s.category != "private_key"
    ] == _tokens_the_long_way(text)


def _split_the_long_way(line: str) -> list[str]:
    line = terminal._PROMPT_STRIP.sub("", line)
    line = re.split(r"\s*(?:&&|\|\||;|\|)\s*", line, maxsplit=1)[0]
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


@settings(max_examples=1000)
@given(TEXT)
@example("sudo  -u root\tls ")
@example("a\x0bb\xa0c")
@example("   ")
def test_command_split_matches_shlex(line: str) -> None:
    assert terminal._split(line) == _split_the_long_way(line)


def test_checksum_libraries_load_only_when_a_candidate_needs_them() -> None:
    # They cost start-up time and memory (stdnum maps OpenSSL through ssl); plain typing
    # never needs them, a number that might be a card or a phone does.
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from privacy.pipeline import build_chain\n"
        "from tests.privacy_helpers import keys_for\n"
        "chain = build_chain()\n"
        "out = [e for k in keys_for('the report is ready\\n') for e in chain.process(k)]\n"
        "out += chain.flush()\n"
        "print(sorted(m for m in ('phonenumbers', 'stdnum', 'ssl') if m in sys.modules))\n"
        "out = [e for k in keys_for('card 4111 1111 1111 1111 or 415 555 0100\\n')\n"
        "       for e in chain.process(k)] + chain.flush()\n"
        "print(sorted(e.redacted for e in out if e.redacted)[:1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert result.stdout.splitlines() == ["[]", "['payment_card']"]


def test_the_screen_mask_and_scrub_do_not_load_pillows_drawing_module() -> None:
    # ImageDraw brings Pillow's FreeType with it (~1.7 MB resident, issue 23); the agent
    # paints raw pixels, so only the image helpers tools and tests call may load it.
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import capture.screen.mss_source, privacy.masking, privacy.screen_scrub\n"
        "print('PIL.ImageDraw' in sys.modules)\n"
        "from PIL import Image\n"
        "from privacy.masking import Rect\n"
        "from privacy.screen_scrub import fill_image\n"
        "image = Image.new('RGB', (8, 8), (255, 255, 255))\n"
        "out = fill_image(image, [Rect(0, 0, 2, 2)])\n"
        "print(out.getpixel((0, 0)), out.getpixel((3, 3)), 'PIL.ImageDraw' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert result.stdout.splitlines() == ["False", "(0, 0, 0) (255, 255, 255) True"]


def test_sensitivity_shortcuts_store_what_the_general_rule_stores() -> None:
    # The filter's shortcuts (level-1 pointer events pass, levels set by copying slots)
    # against level_of and dataclasses.replace, for every type and every level.
    import dataclasses

    from capture.events import Event, Frame, Key, Marker, MouseButton, MouseMove, Scroll, Window
    from privacy.sensitivity import SensitivityFilter, level_of

    samples: list[Event] = [
        MouseMove(ts=1.0, mono=1.0, x=1, y=2),
        Scroll(ts=1.0, mono=1.0, x=1, y=2, dx=0, dy=1),
        MouseButton(ts=1.0, mono=1.0, x=1, y=2, button="left", pressed=True),
        Marker(ts=1.0, mono=1.0, kind="started"),
        Window(ts=1.0, mono=1.0, title="t", app="a"),
        Frame(ts=1.0, mono=1.0, width=1, height=1, image=b"x"),
        Key(ts=1.0, mono=1.0, key="shift", pressed=True),
        Key(ts=1.0, mono=1.0, key="a", pressed=True, char="a"),
        Key(ts=1.0, mono=1.0, key="redacted", pressed=True, redacted="password"),
    ]
    for base in samples:
        for start in (1, 2, 3, 4):
            event = dataclasses.replace(base, sensitivity=start)
            for max_level in (1, 2, 3, 4):
                level = level_of(event)
                expected = (
                    None if level > max_level else dataclasses.replace(event, sensitivity=level)
                )
                got = SensitivityFilter(max_level)(event)
                assert got == expected and type(got) is type(expected)
