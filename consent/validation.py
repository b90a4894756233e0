"""Plain data (TOML, JSON) into frozen msgspec Structs, with every problem in our words.

Used by the fleet policy (``consent.policy``) and the configuration (``agent.config``).
msgspec validates in C and is light to import (~3 MB; the configuration module takes
~10 MB less than it did with pydantic, see docs/PERFORMANCE.md), but its
:class:`msgspec.ValidationError` is a single string such as ``Expected `int` <= 100 -
at `$.capture.screen.webp_quality` ``, and only for the first problem. :func:`validate`
keeps msgspec the sole judge of what is valid; when it refuses, the data is walked field
by field and item by item (the same msgspec conversions, one value at a time) so that
every problem is reported, each as a :class:`Problem` with its path, and msgspec's
wording is turned into ours (``expected greater than or equal to 100, got 5``), with
the value that was given.

A model's own checks (``__post_init__``) raise :class:`InvalidField`: its message is
shown as written, at the model's path plus the optional sub-path it carries (msgspec
keeps the original exception as the ``ValidationError``'s ``__cause__``).
"""

from __future__ import annotations

import ast
import datetime as _dt
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)

Path = tuple[str | int, ...]
Kind = Literal["missing", "unknown", "invalid"]

NAME_PATTERN = r"\A[A-Za-z0-9._-]+\Z"
"""Letters, digits, ``.``, ``_`` and ``-`` only (``\\Z``: a trailing newline is refused,
which ``$`` would let through)."""

_PATTERN_WORDS = {NAME_PATTERN: "only letters, digits, '.', '_' and '-'"}

_TYPE_WORDS = {
    "int": "a valid integer",
    "float": "a valid number",
    "bool": "a valid boolean (true or false)",
    "str": "a valid string",
    "array": "a valid list",
    "datetime": "a date and time with a time zone (ISO 8601, e.g. 2030-01-01T00:00:00Z)",
    "date": "a date",
    "time": "a time of day",
}

_DATETIME_EXAMPLE = "(ISO 8601, e.g. 2030-01-01T00:00:00Z)"

# The suffix msgspec appends: " - at `$.a.b[0]`" (absent for the value itself).
_AT = re.compile(r" - at `(\$(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)`\Z")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_TYPE_GOT = re.compile(r"Expected `([^`]+)`, got `([^`]+)`\Z")
_BOUND = re.compile(r"Expected `(int|float)` (>=|>|<=|<) (\S+)\Z")
_LENGTH = re.compile(r"Expected `(str|array|object|bytes)` of length (>=|<=) (\d+)\Z")
_REGEX = re.compile(r"Expected `str` matching regex (.+)\Z", re.DOTALL)
_ENUM = re.compile(r"Invalid (?:enum )?value (.+)\Z", re.DOTALL)
_UNKNOWN = re.compile(r"Object contains unknown field `(.*)`\Z", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(.*)`\Z", re.DOTALL)

_BOUND_WORDS = {
    ">=": "greater than or equal to",
    ">": "greater than",
    "<=": "less than or equal to",
    "<": "less than",
}
_LENGTH_UNITS = {
    "str": ("character", "characters"),
    "array": ("item", "items"),
    "object": ("entry", "entries"),
    "bytes": ("byte", "bytes"),
}

_MISSING_VALUE = object()
_LONGEST_SHOWN = 60  # characters of a given string a message repeats


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the data: where, what kind, and (for ``invalid``) what."""

    path: Path
    kind: Kind
    detail: str = ""  # for "invalid": "expected ..., got ..." or a model's own message

    def location(self, *, index_brackets: bool = True) -> str:
        """The dotted key, ``a.b[0]`` (or ``a.b.0``); ``(top level)`` for the whole."""
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]" if index_brackets else f".{part}"
            else:
                text += f".{part}" if text else part
        return text or "(top level)"


class Invalid(Exception):
    """The data does not fit the model; ``problems`` lists every one found (at least one)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.location()}: {p.detail or p.kind}" for p in problems))
        self.problems = problems


class InvalidField(ValueError):
    """Raised by a model's ``__post_init__``: ``message`` about the model, or about the
    value at ``path`` inside it (``InvalidField("expected ...", "organisation", 0)``)."""

    def __init__(self, message: str, *path: str | int) -> None:
        super().__init__(message)
        self.path: Path = path


def validate(
    data: object, model: type[S], *, strict: bool = True, object_word: str = "an object"
) -> S:
    """``data`` as a ``model`` instance, or :class:`Invalid` naming every problem.

    ``strict=False`` accepts numbers and booleans written as strings ("5", "true") and
    whole floats for integers, as lenient validators do. ``object_word`` is how a mapping
    is called in messages ("a table" for TOML).
    """
    try:
        return msgspec.convert(data, model, strict=strict)
    except msgspec.ValidationError as exc:
        problems = _breakdown(exc, data, model, (), strict, object_word)
    raise Invalid(problems)


def _problems(value: object, tp: Any, path: Path, strict: bool, object_word: str) -> list[Problem]:
    """Every problem with ``value`` as a ``tp`` (none when msgspec accepts it)."""
    try:
        msgspec.convert(value, tp, strict=strict)
    except msgspec.ValidationError as exc:
        return _breakdown(exc, value, tp, path, strict, object_word)
    return []


def _breakdown(
    exc: msgspec.ValidationError, value: object, tp: Any, path: Path, strict: bool, object_word: str
) -> list[Problem]:
    """msgspec refused ``value``: a model is walked field by field and a list item by item,
    so that every problem is found; anything else is msgspec's one error, told."""
    first = describe_error(exc, value, tp, path, object_word=object_word)
    items = _unwrap(tp)
    if typing.get_origin(items) is list and isinstance(value, list):
        item_type = typing.get_args(items)[0]
        found = [
            problem
            for index, item in enumerate(value)
            for problem in _problems(item, item_type, (*path, index), strict, object_word)
        ]
        return found or [first]  # the items fit: the list's own length is wrong
    model = _struct_of(tp)
    if model is None or not isinstance(value, dict):
        return [first]
    found = []
    fields = msgspec.structs.fields(model)
    for field in fields:
        if field.encode_name in value:
            found += _problems(
                value[field.encode_name],
                field.type,
                (*path, field.encode_name),
                strict,
                object_word,
            )
        elif field.required:
            found.append(Problem((*path, field.encode_name), "missing"))
    known = {field.encode_name for field in fields}
    found += [Problem((*path, str(key)), "unknown") for key in value if key not in known]
    # Every field fits but the model's own check refused them together: msgspec's error.
    return found or [first]


def describe_error(
    exc: msgspec.ValidationError,
    value: object,
    tp: Any,
    path: Path = (),
    *,
    object_word: str = "an object",
) -> Problem:
    """msgspec's error for converting ``value`` (found at ``path``) to ``tp``, in our words."""
    text = str(exc)
    relative: Path = ()
    match = _AT.search(text)
    if match:
        text = text[: match.start()]
        relative = tuple(m[1] if m[1] is not None else int(m[2]) for m in _STEP.finditer(match[1]))
    cause = exc.__cause__
    if isinstance(cause, InvalidField):  # about a value inside the model
        relative = (*relative, *cause.path)
    if cause is not None:  # a model's own check (or a hook): its words, and a scalar given
        given = _value_at(value, relative)
        scalar = isinstance(given, (str, int, float, bool))
        shown = f", got {_shown(given, object_word)}" if scalar else ""
        return Problem((*path, *relative), "invalid", f"{cause}{shown}")
    if m := _MISSING.match(text):
        return Problem((*path, *relative, m[1]), "missing")
    if m := _UNKNOWN.match(text):
        return Problem((*path, *relative, m[1]), "unknown")
    given = _value_at(value, relative)
    return Problem(
        (*path, *relative), "invalid", _expected(text, given, _type_at(tp, relative), object_word)
    )


def _expected(text: str, given: object, tp: Any, object_word: str) -> str:
    """``expected ..., got ...`` for one of msgspec's messages about a single value."""
    choices = _literal_choices(tp)
    if choices is not None and (_ENUM.match(text) or _TYPE_GOT.match(text)):
        return _with_got(f"expected {choices}", given, object_word)
    if m := _TYPE_GOT.match(text):
        return _with_got(
            f"expected {_type_words(m[1], object_word)}", given, object_word, got_type=m[2]
        )
    if m := _BOUND.match(text):
        return _with_got(f"expected {_BOUND_WORDS[m[2]]} {_number(m[3])}", given, object_word)
    if m := _LENGTH.match(text):
        one, many = _LENGTH_UNITS[m[1]]
        count = int(m[3])
        bound = "at least" if m[2] == ">=" else "at most"
        wanted = f"expected {bound} {count} {one if count == 1 else many}"
        if m[1] == "str":
            return _with_got(wanted, given, object_word)
        size = len(given) if isinstance(given, (list, dict, tuple)) else None
        return wanted + (f", got {size}" if size is not None else "")
    if m := _REGEX.match(text):
        pattern = _unrepr(m[1])
        words = _PATTERN_WORDS.get(pattern, f"text matching the pattern {pattern}")
        return _with_got(f"expected {words}", given, object_word)
    if text.startswith("Expected `datetime` with a timezone component"):
        return _with_got(
            f"expected a date and time with a time zone {_DATETIME_EXAMPLE}", given, object_word
        )
    if text.startswith("Invalid RFC3339 encoded datetime"):
        return _with_got(f"expected a date and time {_DATETIME_EXAMPLE}", given, object_word)
    if text.startswith(("Integer value out of range", "Number out of range")):
        return _with_got("expected a number within range", given, object_word)
    if m := _ENUM.match(text):
        return _with_got("expected one of the allowed values", given, object_word)
    # Anything else msgspec may say, made readable: "Expected `x`..." -> "expected x...".
    plain = text.replace("`", "")
    plain = plain[:1].lower() + plain[1:]
    return _with_got(plain, given, object_word)


def _with_got(text: str, given: object, object_word: str, got_type: str | None = None) -> str:
    shown = _shown(given, object_word)
    if shown is None and got_type is not None:
        shown = _kind_words(got_type, object_word)
    return f"{text}, got {shown}" if shown else text


def _shown(value: object, object_word: str) -> str | None:
    """The given value as a message shows it: scalars as written, containers by kind."""
    if value is _MISSING_VALUE:
        return None
    if isinstance(value, str) and len(value) > _LONGEST_SHOWN:
        return f"{value[:_LONGEST_SHOWN]!r}... ({len(value)} characters)"
    if isinstance(value, (str, int, float, bool)):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, dict):
        return object_word
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, _dt.datetime):
        return f"a date and time ({value.isoformat()})"
    if isinstance(value, _dt.date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, _dt.time):
        return f"a time of day ({value.isoformat()})"
    return None


def _kind_words(name: str, object_word: str) -> str:
    return {
        "object": object_word,
        "array": "a list",
        "null": "null",
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "a boolean",
        "datetime": "a date and time",
        "date": "a date",
        "time": "a time of day",
    }.get(name, name)


def _type_words(expected: str, object_word: str) -> str:
    """``int``, ``str | null``, ``object`` ... as words; null is left out of unions."""
    names = [n for n in expected.split(" | ") if n != "null"] or ["null"]
    words = [object_word if n == "object" else _TYPE_WORDS.get(n, n) for n in names]
    return " or ".join(words)


def _number(text: str) -> str:
    """msgspec's ``0.0``/``1000.0`` shown as ``0``/``1000`` (as the bound was written)."""
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return text


def _unrepr(text: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) else text


def _value_at(value: object, path: Path) -> object:
    """The value at ``path`` inside ``value``, or ``_MISSING_VALUE``."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, (list, tuple)) or not 0 <= step < len(value):
                return _MISSING_VALUE
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return _MISSING_VALUE
            value = value[step]
    return value


def _unwrap(tp: Any) -> Any:
    """``Annotated[X, ...]`` -> X; ``X | None`` -> X (other unions are left alone)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, msgspec.Struct) else None


def _type_at(tp: Any, path: Path) -> Any:
    """The declared type of the value at ``path`` inside a ``tp`` (None if unknown)."""
    for step in path:
        tp = _unwrap(tp)
        model = _struct_of(tp)
        if isinstance(step, str) and model is not None:
            by_name = {f.encode_name: f.type for f in msgspec.structs.fields(model)}
            if step not in by_name:
                return None
            tp = by_name[step]
        elif isinstance(step, int) and typing.get_origin(tp) in (list, tuple):
            args = typing.get_args(tp)
            tp = args[0] if args else None
        else:
            return None
    return tp


def _literal_choices(tp: Any) -> str | None:
    """``'a', 'b' or 'c'`` for a Literal type, else None."""
    tp = _unwrap(tp)
    if typing.get_origin(tp) is not Literal:
        return None
    shown = [repr(a) for a in typing.get_args(tp)]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
