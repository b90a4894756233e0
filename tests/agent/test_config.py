"""Configuration errors name the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import load_config, parse_config
from agent.errors import ConfigError, NotInitialised
from storage.keys import generate_age_identity

SOURCE = Path("/home/someone/.config/capture-agent/config.toml")


def valid_text(**capture: str) -> str:
    org, person = generate_age_identity(), generate_age_identity()
    lines = [
        "[device]",
        'id = "laptop-1"',
        "[recipients]",
        f'organisation = ["{org.public}"]',
        f'person = "{person.public}"',
    ]
    if capture:
        lines.append("[capture]")
        lines += [f"{k} = {v}" for k, v in capture.items()]
    return "\n".join(lines) + "\n"


def test_valid_config_gets_defaults() -> None:
    config = parse_config(valid_text(), SOURCE)
    assert config.capture.mouse_move_hz == 60
    assert config.storage.chunk_seconds == 30
    assert len(config.recipient_keys()) == 2


def test_wrong_type_names_file_key_and_expectation() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(valid_text(mouse_move_hz='"fast"'), SOURCE)
    message = str(info.value)
    assert message.startswith(str(SOURCE))
    assert "capture.mouse_move_hz" in message
    assert "valid number" in message and "'fast'" in message


def test_out_of_range_value_names_the_bound() -> None:
    with pytest.raises(
        ConfigError,
        match=r"capture\.queue_size: expected greater than or "
        r"equal to 100, got 5",
    ):
        parse_config(valid_text(queue_size="5"), SOURCE)


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"capture\.mouse_hz: unknown key"):
        parse_config(valid_text(mouse_hz="10"), SOURCE)


def test_missing_section_is_named() -> None:
    with pytest.raises(ConfigError, match=r"recipients: required key is missing"):
        parse_config('[device]\nid = "x"\n', SOURCE)


def test_bad_recipient_is_named_with_index() -> None:
    text = valid_text().replace('organisation = ["', 'organisation = ["age1nope", "')
    with pytest.raises(ConfigError, match=r"recipients\.organisation\[0\]: expected an age"):
        parse_config(text, SOURCE)


def test_invalid_toml_names_file() -> None:
    with pytest.raises(ConfigError, match=r"config\.toml: not valid TOML"):
        parse_config("[device\nid=", SOURCE)


def test_missing_file_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(NotInitialised, match="capture-agent init"):
        load_config(tmp_path / "config.toml")


def test_config_example_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    config = load_config(example)
    assert config.device.id


def test_every_problem_is_named_in_order() -> None:
    text = valid_text(queue_size="5", mouse_hz="1") + "[capture.screen]\nwebp_quality = 101\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCE)
    assert str(info.value) == (
        f"{SOURCE}: capture.queue_size: expected greater than or equal to 100, got 5; "
        "capture.screen.webp_quality: expected less than or equal to 100, got 101; "
        "capture.mouse_hz: unknown key (check the spelling; see config.example.toml)"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[policy]\nlocation = "https://example.org/policy.json"\n',
            "policy: policy.public_key is required when policy.location is set (the organisation's "
            "Ed25519 policy-signing key)",
        ),
        (
            '[upload]\ntransport = "folder"\n',
            'upload: folder is required when transport is "folder"',
        ),
        ('[upload]\ntransport = "s3"\n', 'upload: bucket is required when transport is "s3"'),
        (
            '[upload]\ntransport = "ftp"\n',
            "upload.transport: expected 'none', 'folder' or 's3', got 'ftp'",
        ),
        (
            '[log]\nlevel = "loud"\n',
            "log.level: expected 'debug', 'info', 'warning' or 'error', got 'loud'",
        ),
        (
            "[capture.screen]\nwebp_quality = 0\n",
            "capture.screen.webp_quality: expected greater than or equal to 1, got 0",
        ),
        (
            '[capture.screen]\nencoding = "png"\n',
            "capture.screen.encoding: expected 'auto', 'lossless' or 'lossy', got 'png'",
        ),
        (
            '[upload]\norg = "my org"\n',
            "upload.org: expected only letters, digits, '.', '_' and '-', got 'my org'",
        ),
        (
            "[storage]\ndata_dir = 1979-05-27T07:32:00Z\n",
            "storage.data_dir: expected a valid string, got a date and time "
            "(1979-05-27T07:32:00+00:00)",
        ),
    ],
)
def test_each_rule_names_its_key(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(valid_text() + extra, SOURCE)
    assert str(info.value) == f"{SOURCE}: {message}"


def test_cross_field_checks_pass_when_satisfied() -> None:
    config = parse_config(
        valid_text() + '[policy]\nlocation = "file:///p.json"\npublic_key = "k"\n'
        '[upload]\ntransport = "s3"\nbucket = "b"\n',
        SOURCE,
    )
    assert config.policy.public_key == "k" and config.upload.bucket == "b"


def test_device_id_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"device\.id: expected only letters"):
        parse_config(valid_text().replace('id = "laptop-1"', 'id = "laptop-1\\n"'), SOURCE)


def test_numbers_and_booleans_written_as_strings_are_read() -> None:
    config = parse_config(
        valid_text(queue_size='"500"', mouse_move_hz='"30.5"', keyboard='"false"'), SOURCE
    )
    assert config.capture.queue_size == 500 and config.capture.mouse_move_hz == 30.5
    assert config.capture.keyboard is False


def test_config_is_frozen() -> None:
    config = parse_config(valid_text(), SOURCE)
    with pytest.raises(AttributeError):
        config.capture.queue_size = 1  # type: ignore[misc]


def test_screen_options_come_whole_from_the_config_with_one_set_of_defaults() -> None:
    """The screen settings were relayed field by field through four signatures whose
    defaults drifted (debounce 0.25 in the config, 0.3 in the source): one record now,
    built from the config, with the defaults in force (the config's) everywhere."""
    from agent.config import ScreenConfig
    from capture.screen.mss_source import ScreenSource
    from capture.screen.options import DEFAULT_OPTIONS, ScreenOptions

    screen = parse_config(valid_text(), SOURCE).capture.screen
    assert screen.options(DEFAULT_OPTIONS.min_interval) == DEFAULT_OPTIONS
    assert DEFAULT_OPTIONS.debounce == 0.25
    assert ScreenSource().options == DEFAULT_OPTIONS
    custom = ScreenConfig(debounce=0.5, idle_interval=60.0, webp_quality=80, encoding="lossy")
    assert custom.options(2.0) == ScreenOptions(
        debounce=0.5, min_interval=2.0, idle_interval=60.0, webp_quality=80, encoding="lossy"
    )
