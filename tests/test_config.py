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
    lines = ["[device]", 'id = "laptop-1"', "[recipients]",
             f'organisation = ["{org.public}"]', f'person = "{person.public}"']
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
    with pytest.raises(ConfigError, match=r"capture\.queue_size: expected greater than or "
                                          r"equal to 100, got 5"):
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
    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    config = load_config(example)
    assert config.device.id
