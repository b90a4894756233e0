"""The capture scope: what may be captured, the config narrowed by the fleet policy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec import Struct

if TYPE_CHECKING:
    from agent.config import CaptureConfig
    from consent.policy import Scope


class CaptureScope(Struct, frozen=True, kw_only=True):
    """Which kinds of source may run, and the fastest frame rate (seconds between frames).

    Shown under ``scope`` in `status`; the daemon rebuilds its sources when it changes.
    """

    keys: bool
    mouse: bool
    window: bool
    screen: bool
    min_frame_interval: float


def capture_scope(capture: CaptureConfig, policy: Scope | None) -> CaptureScope:
    """The config's scope, narrowed by the policy's (a policy may only take away)."""
    interval = capture.screen.min_interval
    if policy is None:
        return CaptureScope(
            keys=capture.keyboard,
            mouse=capture.mouse,
            window=capture.window,
            screen=capture.screen.enabled,
            min_frame_interval=interval,
        )
    return CaptureScope(
        keys=capture.keyboard and policy.keys,
        mouse=capture.mouse and policy.mouse,
        window=capture.window and policy.window,
        screen=capture.screen.enabled and policy.screen,
        min_frame_interval=max(interval, policy.min_frame_interval or 0.0),
    )
