"""`capture-agent privacy check` and `check-window`: what the filters would do, shown.

``check_text`` types the text, one key press and release per character, through the
same stages the daemon runs (password fields, typed-text redaction with its boundaries
and terminal prompt heuristic), so what it reports is what would be stored: "\\n" is
Enter, "\\t" is Tab and "\\b" is Backspace. Offsets are character offsets in the input.
Nothing here logs or stores the text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from privacy.denylist import Denylist
from privacy.errors import CheckInputError, PrivacyError

if TYPE_CHECKING:
    from capture.events import Event
    from privacy.detectors import Span

# The detectors and stages are imported by the functions that run them: every command
# of the CLI registers these subcommands, and most (status, pause) never check text.

REDACTION_MARK = "█"
"""What replaces each redacted character in ``redacted``."""

_SPECIAL = {"\n": "enter", "\r": "enter", "\t": "tab", "\b": "backspace", "\x7f": "backspace"}
EXIT_USAGE = 2


def typed_spans(text: str, title: str = "Terminal", app: str = "terminal") -> list[Span]:
    """The spans of ``text`` the daemon would redact if it were typed into this window."""
    from capture.events import Key, Window
    from privacy.password_fields import PasswordFieldRedactor
    from privacy.text_buffer import TypedTextRedactor

    password = PasswordFieldRedactor()
    redactor = TypedTextRedactor(idle_seconds=float("inf"), max_hold_seconds=float("inf"))
    released: list[Event] = []

    def run(event: Event) -> None:
        passed = password(event)
        if passed is not None:
            released.extend(redactor.process(passed))

    run(Window(ts=0.0, mono=0.0, title=title, app=app, pid=1))
    for offset, ch in enumerate(text):
        t = 1.0 + offset * 0.05
        name = _SPECIAL.get(ch)
        key = (
            Key(ts=t, mono=t, key=name, pressed=True)
            if name
            else Key(ts=t, mono=t, key=ch.lower() if ch != " " else "space", pressed=True, char=ch)
        )
        run(key)
        run(Key(ts=t + 0.01, mono=t + 0.01, key=key.key, pressed=False, char=key.char))
    released.extend(redactor.flush())
    # Events come out in order: match released presses to input offsets by position.
    offsets = iter(range(len(text)))
    categories: list[str | None] = [None] * len(text)
    for event in released:
        if isinstance(event, Key) and event.pressed:
            offset = next(offsets)
            if event.redacted is not None:
                categories[offset] = event.redacted
    return _runs(categories)


def _runs(categories: list[str | None]) -> list[Span]:
    from privacy.detectors import Span

    spans: list[Span] = []
    start = 0
    for i in range(1, len(categories) + 1):
        if i == len(categories) or categories[i] != categories[start]:
            category = categories[start] if categories else None
            if category is not None:
                spans.append(Span(start, i, category))
            start = i
    return spans


def check_text(text: str) -> dict[str, Any]:
    """What would be redacted in ``text``: ``{"redacted": str, "spans": [[s, e, cat]]}``."""
    from privacy.detectors import redact_text

    spans = typed_spans(text)
    return {
        "redacted": redact_text(text, spans, REDACTION_MARK),
        "spans": [[s.start, s.end, s.category] for s in spans],
    }


def _read_inputs(path: Path) -> Iterator[str]:
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckInputError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise CheckInputError(f"cannot read {path}: it is a folder") from None
    except UnicodeDecodeError:
        raise CheckInputError(f"cannot read {path}: not UTF-8 text") from None
    except OSError as exc:
        raise CheckInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() != ".jsonl":
        yield from content.splitlines()
        return
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise CheckInputError(f"{path}:{number}: not valid JSON") from None
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise CheckInputError(f'{path}:{number}: expected an object with a "text" string')
        yield item["text"]


def check_file(path: str | Path) -> list[dict[str, Any]]:
    """``check_text`` for every input in a file: a .jsonl of {"text": ...}, else each line."""
    return [check_text(text) for text in _read_inputs(Path(path))]


def check_window(
    title: str,
    app: str,
    process: str | None = None,
    denylist: Denylist | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Whether a window would be recorded, and if not, which denylist category stops it.

    ``reason`` names the evidence that decided (app, window, url, work_url, terminal,
    email, work, title, site, file, entry or none); ``stored_url`` is what of ``url``
    a window event would keep under the policy.
    """
    from privacy.password_fields import PASSWORD_TITLE
    from privacy.titles import redact_title
    from privacy.window_rules.urls import stored_url

    denylist = denylist or Denylist.default()
    verdict = denylist.judge(title, app, process, url)
    category = verdict.category
    return {
        "recorded": category is None,
        "category": category,
        "reason": verdict.reason,
        "password_field": category is None and PASSWORD_TITLE.search(title) is not None,
        "stored_title": None if category is not None else redact_title(title),
        "stored_url": None if category is not None else stored_url(url, denylist.url_detail),
    }


# --- command line ---------------------------------------------------------------------

DenylistLoader = Callable[[], Denylist]


def register_cli(subparsers: Any, denylist_loader: DenylistLoader | None = None) -> Any:
    """Add `privacy check` and `privacy check-window` to the CLI's subparsers.

    ``denylist_loader`` returns the denylist in force (defaults plus the policy's and
    the person's additions); without it, the shipped default list is used. Returns the
    `privacy` group's subparsers, for the agent to add commands that need its home.
    """
    privacy = subparsers.add_parser(
        "privacy",
        help="see what the privacy filters would remove",
        description="See what the on-device privacy filters would remove, without recording.",
    )
    sub = privacy.add_subparsers(
        dest="privacy_command", metavar="COMMAND", required=True, parser_class=type(privacy)
    )
    p = sub.add_parser(
        "check",
        help="show what would be redacted in typed text",
        description=(
            "Show what would be redacted if TEXT were typed. With --file, a .jsonl "
            'file holds one {"text": ...} object per line (texts may contain Enter '
            "and Tab as \\n and \\t); any other file is read line by line."
        ),
        epilog='example: capture-agent privacy check "card 4111 1111 1111 1111" --json',
    )
    p.add_argument("text", nargs="?", help="the text to check")
    p.add_argument("--file", "-f", metavar="F", help="check every input in file F instead")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per input: redacted text and [start, end, category] spans",
    )
    p.set_defaults(func=cmd_check)
    p = sub.add_parser(
        "check-window",
        help="tell whether a window would be recorded",
        description="Tell whether a window with this title and app would be "
        "recorded, or which denylist category stops it. With --file, judge every window "
        'of a JSON-lines file ({"title": ..., "app": ..., "process": ..., "url": ...} per '
        "line, other keys ignored) and print one result per line, in order.",
        epilog="examples: capture-agent privacy check-window --app firefox --title "
        "'Universal Credit - GOV.UK' --url https://www.gov.uk/universal-credit\n"
        "  capture-agent privacy check-window --file windows.jsonl --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--title", help="the window title")
    p.add_argument("--app", help="the app: WM_CLASS, process name or bundle id")
    p.add_argument("--process", help="the process name, if different from --app")
    p.add_argument("--url", help="the focused browser tab's address, if any")
    p.add_argument(
        "--file",
        "-f",
        metavar="F",
        help="judge every window in JSON-lines file F (- for standard input)",
    )
    p.add_argument("--json", action="store_true", help="print JSON (one object per line)")
    p.set_defaults(func=lambda args: cmd_check_window(args, denylist_loader))
    p = sub.add_parser(
        "check-image",
        help="show what the screen scrub would read and mask in an image",
        description=(
            "Read FILE (a screenshot: PNG, WebP, JPEG...) with the OCR engine the agent "
            "uses and show the lines read and each box the screen scrub would fill, with "
            "its category. Nothing is written. Exit 1 for a file that is not a readable "
            "image, 69 when no OCR engine can start here."
        ),
        epilog="example: capture-agent privacy check-image screenshot.png --json",
    )
    p.add_argument("file", help="the image to check")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: engine, lines (text, box), masks (category, box), counts",
    )
    p.set_defaults(func=cmd_check_image)
    return sub


def cmd_check(args: argparse.Namespace) -> int:
    """Show what would be redacted in typed text (`privacy check`)."""
    if (args.text is None) == (args.file is None):
        return _usage("give either TEXT or --file F, not both or neither")
    try:
        results = check_file(args.file) if args.file else [check_text(args.text)]
    except PrivacyError as exc:
        return _fail(exc)
    for result in results:
        if args.json:
            sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
            continue
        sys.stdout.write(result["redacted"].replace("\n", "⏎").replace("\t", "⇥") + "\n")
        for start, end, category in result["spans"]:
            sys.stdout.write(f"  [{start}, {end}) {category}\n")
    return 0


def cmd_check_window(args: argparse.Namespace, loader: DenylistLoader | None = None) -> int:
    """Tell whether a window would be recorded (`privacy check-window`)."""
    if args.file is not None:
        if args.title is not None or args.app is not None or args.url is not None:
            return _usage("give either --file or --title and --app, not both")
    elif args.title is None or args.app is None:
        return _usage("give --title and --app (or --file)")
    try:
        denylist = loader() if loader is not None else Denylist.default()
    except PrivacyError as exc:
        return _fail(exc)
    if args.file is not None:
        return _check_window_file(args, denylist)
    title, app = str(args.title), str(args.app)
    result = check_window(title, app, args.process, denylist, args.url)
    if args.json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    elif result["recorded"]:
        note = (
            " (typed characters are redacted: password prompt)" if result["password_field"] else ""
        )
        sys.stdout.write(f"recorded{note}\n")
    else:
        sys.stdout.write(f"not recorded: denylist category {result['category']}\n")
    return 0


def _check_window_file(args: argparse.Namespace, denylist: Denylist) -> int:
    """The batch form: one result per input line; exit 1 if any line was refused."""
    from privacy.check_window import batch_results

    def judge(title: str, app: str, process: str | None, url: str | None) -> dict[str, Any]:
        return check_window(title, app, process, denylist, url)

    errors = 0
    try:
        for result in batch_results(args.file, judge):
            errors += "error" in result
            if args.json:
                sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
            elif "error" in result:
                sys.stdout.write(f"line {result['line']}: error: {result['error']}\n")
            elif result["recorded"]:
                sys.stdout.write(f"line {result['line']}: recorded\n")
            else:
                sys.stdout.write(f"line {result['line']}: not recorded: {result['category']}\n")
    except PrivacyError as exc:
        return _fail(exc)
    if errors:
        sys.stderr.write(f"capture-agent privacy: {errors} line(s) could not be read\n")
        return 1
    return 0


def cmd_check_image(args: argparse.Namespace) -> int:
    """Show what the screen scrub would read and mask in an image (`privacy check-image`)."""
    from privacy.check_image import check_image

    try:
        result = check_image(args.file).to_dict()
    except PrivacyError as exc:
        return _fail(exc)
    if args.json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        return 0
    out = [f"read with {result['engine']} ({result['width']}x{result['height']}):"]
    # What the engine read could hold control characters: never sent to the terminal.
    out += [f"  {_printable(line['text'])}" for line in result["lines"]] or ["  (no text)"]
    if result["masks"]:
        out.append(f"would mask {len(result['masks'])} region(s):")
        out += [
            "  {category} at x={} y={} {}x{}".format(*m["box"], category=m["category"])
            for m in result["masks"]
        ]
    else:
        out.append("would mask nothing")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def _usage(message: str) -> int:
    sys.stderr.write(f"capture-agent privacy: error: {message} (see --help)\n")
    return EXIT_USAGE


def _fail(exc: PrivacyError) -> int:
    sys.stderr.write(f"capture-agent privacy: error: {exc}\n")
    return exc.exit_code
