"""The configuration file: TOML, validated with msgspec, errors naming file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from msgspec import Meta, Struct, field

from agent.errors import ConfigError, NotInitialised
from capture.screen.options import DEFAULT_OPTIONS, Encoding, ScreenOptions
from consent.validation import NAME_PATTERN, Invalid, InvalidField, Problem, validate
from storage.keys import is_age_recipient

_Name = Annotated[str, Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
_AGE_RECIPIENT = "expected an age X25519 public key (age1...)"


class _Section(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A table of the file: unknown keys refused, values fixed once read.

    Subclasses repeat ``frozen=True, kw_only=True``: msgspec applies ``kw_only`` to the
    fields a class defines, and type checkers read ``frozen`` per class.
    """


class DeviceConfig(_Section, frozen=True, kw_only=True):
    """Who is writing: the device id ends up in every chunk's manifest."""

    id: _Name


class RecipientsConfig(_Section, frozen=True, kw_only=True):
    """Public age keys every chunk is encrypted to (the daemon needs no private key)."""

    organisation: Annotated[list[str], Meta(min_length=1)]
    person: str

    def __post_init__(self) -> None:
        for index, key in enumerate(self.organisation):
            if not is_age_recipient(key):
                raise InvalidField(_AGE_RECIPIENT, "organisation", index)
        if not is_age_recipient(self.person):
            raise InvalidField(_AGE_RECIPIENT, "person")


class ScreenConfig(_Section, frozen=True, kw_only=True):
    """When frames are taken and how they are encoded (defaults: ``ScreenOptions``'s)."""

    enabled: bool = True
    min_interval: Annotated[float, Meta(ge=0.1, le=3600)] = DEFAULT_OPTIONS.min_interval
    debounce: Annotated[float, Meta(ge=0.0, le=10)] = DEFAULT_OPTIONS.debounce
    idle_interval: Annotated[float, Meta(ge=1.0, le=86400)] = DEFAULT_OPTIONS.idle_interval
    encoding: Encoding = DEFAULT_OPTIONS.encoding
    webp_quality: Annotated[int, Meta(ge=1, le=100)] = DEFAULT_OPTIONS.webp_quality
    ocr_process: Literal["inline", "separate"] = "inline"
    """Where the screen scrub's OCR engine runs: inside the agent, or in a worker process
    of its own (``capture.ocr.process``: an engine crash costs a frame, not the agent;
    the engine's memory is the worker's, ~20 MB more for the two together,
    docs/PERFORMANCE.md)."""

    def options(self, min_interval: float) -> ScreenOptions:
        """The screen source's settings, whole; ``min_interval`` as the policy narrowed it."""
        return ScreenOptions(
            debounce=self.debounce,
            min_interval=min_interval,
            idle_interval=self.idle_interval,
            encoding=self.encoding,
            webp_quality=self.webp_quality,
        )


class CaptureConfig(_Section, frozen=True, kw_only=True):
    """Which sources run, and the bounds that keep them cheap."""

    keyboard: bool = True
    mouse: bool = True
    window: bool = True
    mouse_move_hz: Annotated[float, Meta(gt=0, le=1000)] = 60.0
    queue_size: Annotated[int, Meta(ge=100, le=10_000_000)] = 20_000
    screen: ScreenConfig = field(default_factory=ScreenConfig)


class StorageConfig(_Section, frozen=True, kw_only=True):
    """Where chunks go and when they are sealed."""

    data_dir: str | None = None
    chunk_seconds: Annotated[float, Meta(ge=1.0, le=3600)] = 30.0
    chunk_max_bytes: Annotated[int, Meta(ge=10_000, le=1_000_000_000)] = 16_000_000
    # Retention (storage/retention.py); 0 disables a cap.
    max_total_bytes: Annotated[int, Meta(ge=0)] = 2_000_000_000
    max_age_days: Annotated[float, Meta(ge=0)] = 30.0
    min_free_bytes: Annotated[int, Meta(ge=0)] = 500_000_000


class ConsentConfig(_Section, frozen=True, kw_only=True):
    """The embedded consent defaults; a fleet policy may override both."""

    mode: Literal["opt-in", "opt-out"] = "opt-in"
    snooze_max_minutes: Annotated[int, Meta(ge=1, le=30)] = 30


class PolicyConfig(_Section, frozen=True, kw_only=True):
    """Where the organisation's signed fleet policy comes from, and its pinned key.

    With ``location`` set, no valid unexpired policy means no capture (fail closed).
    """

    location: str | None = None
    public_key: str | None = None
    refresh_interval: Annotated[float, Meta(ge=5.0, le=86400)] = 60.0
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    def __post_init__(self) -> None:
        if self.location and not self.public_key:
            raise InvalidField(
                "policy.public_key is required when policy.location is set "
                "(the organisation's Ed25519 policy-signing key)"
            )


class UploadConfig(_Section, frozen=True, kw_only=True):
    """Where sealed chunks go after the hold-back window (storage/uploader.py).

    Credentials are never in this file: S3 uses the usual AWS sources (environment,
    shared credentials file, instance role).
    """

    transport: Literal["none", "folder", "s3"] = "none"
    folder: str | None = None
    endpoint_url: str | None = None
    bucket: str | None = None
    prefix: str = ""
    region: str | None = None
    org: _Name = "org"
    hold_back_minutes: Annotated[float, Meta(ge=0, le=7 * 24 * 60)] = 10.0
    concurrency: Annotated[int, Meta(ge=1, le=32)] = 2
    bandwidth_limit_kbps: Annotated[int, Meta(ge=0)] = 0
    interval_seconds: Annotated[float, Meta(ge=1.0, le=86400)] = 60.0

    def __post_init__(self) -> None:
        if self.transport == "folder" and not self.folder:
            raise InvalidField('folder is required when transport is "folder"')
        if self.transport == "s3" and not self.bucket:
            raise InvalidField('bucket is required when transport is "s3"')


class LogConfig(_Section, frozen=True, kw_only=True):
    """Logging (never holds captured content)."""

    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(_Section, frozen=True, kw_only=True):
    """The whole configuration file."""

    device: DeviceConfig
    recipients: RecipientsConfig
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    consent: ConsentConfig = field(default_factory=ConsentConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    upload: UploadConfig = field(default_factory=UploadConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def recipient_keys(self) -> list[str]:
        """Every age recipient a chunk is sealed to: organisation keys, then the person's."""
        return [*self.recipients.organisation, self.recipients.person]


def _describe(problem: Problem) -> str:
    where = problem.location()
    if problem.kind == "missing":
        return f"{where}: required key is missing"
    if problem.kind == "unknown":
        return f"{where}: unknown key (check the spelling; see config.example.toml)"
    return f"{where}: {problem.detail}"


def parse_config(text: str, source: Path) -> Config:
    """Parse and validate TOML text; every error names ``source`` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        # Lenient for a hand-edited file: "5" and "true" in quotes are read as 5 and true.
        return validate(data, Config, strict=False, object_word="a table")
    except Invalid as exc:
        problems = "; ".join(_describe(p) for p in exc.problems)
        raise ConfigError(f"{source}: {problems}") from None


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotInitialised(f"{path}: no configuration; run `capture-agent init` first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, path)
