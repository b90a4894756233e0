"""The configuration file: TOML, validated with pydantic, errors naming file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.errors import ConfigError, NotInitialised
from storage.keys import is_age_recipient


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Section):
    """Who is writing: the device id ends up in every chunk's manifest."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


def _age_recipient(value: str) -> str:
    if not is_age_recipient(value):
        raise ValueError("expected an age X25519 public key (age1...)")
    return value


AgeRecipient = Annotated[str, AfterValidator(_age_recipient)]


class RecipientsConfig(_Section):
    """Public age keys every chunk is encrypted to (the daemon needs no private key)."""

    organisation: list[AgeRecipient] = Field(min_length=1)
    person: AgeRecipient


class ScreenConfig(_Section):
    """When frames are taken and how they are encoded."""

    enabled: bool = True
    min_interval: float = Field(default=1.0, ge=0.1, le=3600)
    debounce: float = Field(default=0.25, ge=0.0, le=10)
    idle_interval: float = Field(default=30.0, ge=1.0, le=86400)
    webp_quality: int = Field(default=50, ge=1, le=100)


class CaptureConfig(_Section):
    """Which sources run, and the bounds that keep them cheap."""

    keyboard: bool = True
    mouse: bool = True
    window: bool = True
    mouse_move_hz: float = Field(default=60.0, gt=0, le=1000)
    queue_size: int = Field(default=20_000, ge=100, le=10_000_000)
    screen: ScreenConfig = ScreenConfig()


class StorageConfig(_Section):
    """Where chunks go and when they are sealed."""

    data_dir: str | None = None
    chunk_seconds: float = Field(default=30.0, ge=1.0, le=3600)
    chunk_max_bytes: int = Field(default=16_000_000, ge=10_000, le=1_000_000_000)
    # Retention (storage/retention.py); 0 disables a cap.
    max_total_bytes: int = Field(default=2_000_000_000, ge=0)
    max_age_days: float = Field(default=30.0, ge=0)
    min_free_bytes: int = Field(default=500_000_000, ge=0)


class ConsentConfig(_Section):
    """The embedded consent defaults; a fleet policy may override both."""

    mode: Literal["opt-in", "opt-out"] = "opt-in"
    snooze_max_minutes: int = Field(default=30, ge=1, le=30)


class PolicyConfig(_Section):
    """Where the organisation's signed fleet policy comes from, and its pinned key.

    With ``location`` set, no valid unexpired policy means no capture (fail closed).
    """

    location: str | None = None
    public_key: str | None = None
    refresh_interval: float = Field(default=60.0, ge=5.0, le=86400)
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    @model_validator(mode="after")
    def _key_with_location(self) -> PolicyConfig:
        if self.location and not self.public_key:
            raise ValueError("policy.public_key is required when policy.location is set "
                             "(the organisation's Ed25519 policy-signing key)")
        return self


class UploadConfig(_Section):
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
    org: str = Field(default="org", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    hold_back_minutes: float = Field(default=10.0, ge=0, le=7 * 24 * 60)
    concurrency: int = Field(default=2, ge=1, le=32)
    bandwidth_limit_kbps: int = Field(default=0, ge=0)
    interval_seconds: float = Field(default=60.0, ge=1.0, le=86400)

    @model_validator(mode="after")
    def _target_for_transport(self) -> UploadConfig:
        if self.transport == "folder" and not self.folder:
            raise ValueError("folder is required when transport is \"folder\"")
        if self.transport == "s3" and not self.bucket:
            raise ValueError("bucket is required when transport is \"s3\"")
        return self


class LogConfig(_Section):
    """Logging (never holds captured content)."""

    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(_Section):
    """The whole configuration file."""

    device: DeviceConfig
    recipients: RecipientsConfig
    capture: CaptureConfig = CaptureConfig()
    storage: StorageConfig = StorageConfig()
    consent: ConsentConfig = ConsentConfig()
    policy: PolicyConfig = PolicyConfig()
    upload: UploadConfig = UploadConfig()
    log: LogConfig = LogConfig()

    def recipient_keys(self) -> list[str]:
        """Every age recipient a chunk is sealed to: organisation keys, then the person's."""
        return [*self.recipients.organisation, self.recipients.person]


def _describe(error: Any) -> str:
    loc = ""
    for part in error["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    loc = loc or "(top level)"
    kind = error["type"]
    if kind == "missing":
        return f"{loc}: required key is missing"
    if kind == "extra_forbidden":
        return f"{loc}: unknown key (check the spelling; see config.example.toml)"
    msg = str(error["msg"])
    got = error.get("input")
    shown = f", got {got!r}" if isinstance(got, (str, int, float, bool)) else ""
    if msg.startswith("Value error, "):  # our own validators word their message fully
        return f"{loc}: {msg[len('Value error, '):]}{shown}"
    if msg.startswith("Input should be "):
        msg = msg[len("Input should be "):]
    return f"{loc}: expected {msg}{shown}"


def parse_config(text: str, source: Path) -> Config:
    """Parse and validate TOML text; every error names ``source`` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotInitialised(
            f"{path}: no configuration; run `capture-agent init` first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, path)
