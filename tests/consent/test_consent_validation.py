"""msgspec's validation errors in our words: every kind of message, every path, every problem."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import pytest
from msgspec import Meta, Struct, field

from consent.validation import (
    NAME_PATTERN,
    Invalid,
    InvalidField,
    Problem,
    describe_error,
    validate,
)


class Inner(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    count: Annotated[int, Meta(ge=1, le=10)] = 5
    rate: Annotated[float, Meta(gt=0, lt=2.5)] = 1.0
    floor: Annotated[float, Meta(ge=0.1)] = 0.5
    name: Annotated[str, Meta(min_length=1, max_length=8, pattern=NAME_PATTERN)] = "x"
    code: Annotated[str, Meta(pattern=r"^[a-z]{3}$")] = "abc"
    tags: Annotated[list[Annotated[str, Meta(min_length=1)]], Meta(min_length=1, max_length=2)] = (
        field(default_factory=lambda: ["t"])
    )
    mode: Literal["on", "off"] = "on"
    flag: bool = True
    note: str | None = None
    when: Annotated[datetime, Meta(tz=True)] | None = None
    counts: Annotated[dict[str, int], Meta(min_length=1)] = field(default_factory=lambda: {"a": 1})


class Outer(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    required: str
    inner: Inner = field(default_factory=Inner)
    items: list[Inner] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.required == "value-error":
            raise ValueError("required may not say value-error")
        if self.required == "type-error":
            raise TypeError("required may not say type-error")
        if self.required == "bad-item" and self.items:
            raise InvalidField("expected an item we like", "items", 0, "name")


def problems(data: Any, *, strict: bool = True) -> list[tuple[str, str, str]]:
    with pytest.raises(Invalid) as info:
        validate(data, Outer, strict=strict, object_word="a table")
    return [(p.location(), p.kind, p.detail) for p in info.value.problems]


def one(inner: dict[str, Any], *, strict: bool = True) -> str:
    """The single problem's detail for ``inner`` (under ``inner.``)."""
    found = problems({"required": "r", "inner": inner}, strict=strict)
    assert len(found) == 1, found
    return f"{found[0][0]}: {found[0][2]}"


def test_valid_data_is_the_model() -> None:
    value = validate({"required": "r", "inner": {"count": 2}}, Outer)
    assert value.inner.count == 2 and value.inner.rate == 1.0 and value.required == "r"


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        # wrong type: what was expected, what was given
        ({"count": "many"}, "inner.count: expected a valid integer, got 'many'"),
        ({"count": 2.5}, "inner.count: expected a valid integer, got 2.5"),
        ({"count": True}, "inner.count: expected a valid integer, got True"),
        ({"rate": "fast"}, "inner.rate: expected a valid number, got 'fast'"),
        ({"rate": [1]}, "inner.rate: expected a valid number, got a list"),
        ({"flag": 1}, "inner.flag: expected a valid boolean (true or false), got 1"),
        ({"name": 5}, "inner.name: expected a valid string, got 5"),
        ({"name": {"a": 1}}, "inner.name: expected a valid string, got a table"),
        (
            {"name": datetime(2030, 1, 1)},
            "inner.name: expected a valid string, got a date and time (2030-01-01T00:00:00)",
        ),
        ({"note": 5}, "inner.note: expected a valid string, got 5"),  # `str | null`: null unsaid
        ({"note": [5]}, "inner.note: expected a valid string, got a list"),
        ({"tags": "t"}, "inner.tags: expected a valid list, got 't'"),
        ({"tags": [3]}, "inner.tags[0]: expected a valid string, got 3"),
        ({"counts": [1]}, "inner.counts: expected a table, got a list"),
        (
            {"when": 5},
            "inner.when: expected a date and time with a time zone (ISO 8601, e.g. "
            "2030-01-01T00:00:00Z), got 5",
        ),
        # bounds, written as they were declared (0, not 0.0)
        ({"count": 0}, "inner.count: expected greater than or equal to 1, got 0"),
        ({"count": 11}, "inner.count: expected less than or equal to 10, got 11"),
        ({"rate": 0}, "inner.rate: expected greater than 0, got 0"),
        ({"rate": -0.5}, "inner.rate: expected greater than 0, got -0.5"),
        ({"rate": 2.5}, "inner.rate: expected less than 2.5, got 2.5"),
        ({"rate": float("nan")}, "inner.rate: expected greater than 0, got nan"),
        ({"rate": float("inf")}, "inner.rate: expected less than 2.5, got inf"),
        ({"floor": 0.01}, "inner.floor: expected greater than or equal to 0.1, got 0.01"),
        # lengths
        ({"name": ""}, "inner.name: expected at least 1 character, got ''"),
        ({"name": "abcdefghi"}, "inner.name: expected at most 8 characters, got 'abcdefghi'"),
        ({"tags": []}, "inner.tags: expected at least 1 item, got 0"),
        ({"tags": ["a", "b", "c"]}, "inner.tags: expected at most 2 items, got 3"),
        ({"tags": ["a", ""]}, "inner.tags[1]: expected at least 1 character, got ''"),
        ({"counts": {}}, "inner.counts: expected at least 1 entry, got 0"),
        # patterns: ours by name, others shown
        ({"name": "a b"}, "inner.name: expected only letters, digits, '.', '_' and '-', got 'a b'"),
        (
            {"name": "ab\n"},
            "inner.name: expected only letters, digits, '.', '_' and '-', got 'ab\\n'",
        ),
        ({"code": "abcd"}, "inner.code: expected text matching the pattern ^[a-z]{3}$, got 'abcd'"),
        # choices
        ({"mode": "maybe"}, "inner.mode: expected 'on' or 'off', got 'maybe'"),
        ({"mode": 3}, "inner.mode: expected 'on' or 'off', got 3"),
        # dates and times
        (
            {"when": "2030-01-01T00:00:00"},
            "inner.when: expected a date and time with a time zone "
            "(ISO 8601, e.g. 2030-01-01T00:00:00Z), got "
            "'2030-01-01T00:00:00'",
        ),
        (
            {"when": "soon"},
            "inner.when: expected a date and time (ISO 8601, e.g. "
            "2030-01-01T00:00:00Z), got 'soon'",
        ),
    ],
)
def test_each_kind_of_error_in_our_words(inner: dict[str, Any], message: str) -> None:
    assert one(inner) == message


def test_a_long_string_is_shortened() -> None:
    message = one({"code": "x" * 500})
    assert message.endswith(
        "got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (500 characters)"
    )


def test_missing_and_unknown_keys() -> None:
    assert problems({}) == [("required", "missing", "")]
    assert problems({"required": "r", "inner": {"cuont": 1}}) == [("inner.cuont", "unknown", "")]
    assert problems({"required": "r", "extra": 1}) == [("extra", "unknown", "")]


def test_every_problem_is_reported_in_field_order_unknown_last() -> None:
    data = {
        "surprise": 1,
        "inner": {"count": 0, "oops": 2, "rate": "x"},
        "items": [{"count": 3}, {"mode": "x", "name": ""}],
    }
    assert problems(data) == [
        ("required", "missing", ""),
        ("inner.count", "invalid", "expected greater than or equal to 1, got 0"),
        ("inner.rate", "invalid", "expected a valid number, got 'x'"),
        ("inner.oops", "unknown", ""),
        ("items[1].name", "invalid", "expected at least 1 character, got ''"),
        ("items[1].mode", "invalid", "expected 'on' or 'off', got 'x'"),
        ("surprise", "unknown", ""),
    ]
    assert problems({"required": "r", "inner": {"tags": ["", "b", ""]}}) == [
        ("inner.tags[0]", "invalid", "expected at least 1 character, got ''"),
        ("inner.tags[2]", "invalid", "expected at least 1 character, got ''"),
    ]


def test_a_section_of_the_wrong_type() -> None:
    assert problems({"required": "r", "inner": 5}) == [
        ("inner", "invalid", "expected a table, got 5")
    ]
    assert problems({"required": "r", "items": {"a": 1}}) == [
        ("items", "invalid", "expected a valid list, got a table")
    ]
    assert problems(None) == [("(top level)", "invalid", "expected a table, got null")]


@pytest.mark.parametrize(
    ("required", "detail"),
    [
        ("value-error", "required may not say value-error"),
        ("type-error", "required may not say type-error"),
    ],
)
def test_a_models_own_check_is_told_at_the_models_path(required: str, detail: str) -> None:
    assert problems({"required": required}) == [("(top level)", "invalid", detail)]


def test_a_models_own_check_inside_a_list_names_the_item() -> None:

    class Holder(Struct, frozen=True, forbid_unknown_fields=True):
        outers: list[Outer]

    with pytest.raises(Invalid) as info:
        validate({"outers": [{"required": "r"}, {"required": "type-error"}]}, Holder)
    assert [(p.location(), p.detail) for p in info.value.problems] == [
        ("outers[1]", "required may not say type-error")
    ]


def test_invalid_field_names_its_sub_path_and_the_value() -> None:
    data = {"required": "bad-item", "items": [{"name": "zed"}]}
    assert problems(data) == [("items[0].name", "invalid", "expected an item we like, got 'zed'")]


def test_msgspec_keeps_the_models_exception_as_the_cause() -> None:
    """describe_error relies on it for InvalidField's sub-path."""
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert({"required": "bad-item", "items": [{}]}, Outer)
    assert isinstance(info.value.__cause__, InvalidField)
    assert info.value.__cause__.path == ("items", 0, "name")


def test_lenient_mode_reads_strings_as_numbers_and_booleans() -> None:
    value = validate(
        {"required": "r", "inner": {"count": "3", "rate": "1.5", "flag": "false"}},
        Outer,
        strict=False,
    )
    assert (value.inner.count, value.inner.rate, value.inner.flag) == (3, 1.5, False)
    assert (
        one({"count": "many"}, strict=False) == "inner.count: expected a valid integer, got 'many'"
    )
    assert one({"count": "3"}) == "inner.count: expected a valid integer, got '3'"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Object missing required field `a` - at `$.b[2]`", Problem(("x", "b", 2, "a"), "missing")),
        (
            "Object contains unknown field `a - at `$.c`` - at `$.b`",
            Problem(("x", "b", "a - at `$.c`"), "unknown"),
        ),
        ("Object contains unknown field `odd key`", Problem(("x", "odd key"), "unknown")),
        (
            "Expected `int` that's a multiple of 3 - at `$.n`",
            Problem(("x", "n"), "invalid", "expected int that's a multiple of 3"),
        ),
        (
            "Something new from msgspec",
            Problem(("x",), "invalid", "something new from msgspec, got a table"),
        ),
        (
            "Integer value out of range - at `$.n`",
            Problem(("x", "n"), "invalid", "expected a number within range"),
        ),
        (
            "Invalid enum value 'q' - at `$.m`",
            Problem(("x", "m"), "invalid", "expected one of the allowed values"),
        ),
    ],
)
def test_message_parsing_is_robust(text: str, problem: Problem) -> None:
    error = msgspec.ValidationError(text)
    assert describe_error(error, {}, None, ("x",), object_word="a table") == problem


def test_locations() -> None:
    assert Problem(("a", "b", 0, "c"), "missing").location() == "a.b[0].c"
    assert Problem(("a", "b", 0, "c"), "missing").location(index_brackets=False) == "a.b.0.c"
    assert Problem((), "invalid").location() == "(top level)"
    assert Problem((0,), "invalid").location() == "[0]"
