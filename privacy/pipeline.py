"""The privacy chain, declared in one place.

Order matters and is explained here:

1. ``leading`` stages (the consent gate): nothing stamped while not recording goes on.
2. ``DeniedWindowSuppressor``: while a denied window is focused nothing of it (input,
   frames, its title) reaches any later stage.
3. ``TitleRedactor``: identifiers in the remaining window titles become placeholders.
4. ``PasswordFieldRedactor``: characters typed into a password prompt are removed
   before the text buffer ever holds them.
5. ``TypedTextRedactor``: typed text is held until a boundary and scanned.
6. ``SensitivityFilter``: last, so it judges events as they will be stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from privacy.chain import AnyStage, Chain
from privacy.denylist import DeniedWindowSuppressor, Denylist
from privacy.detectors import default_detectors, detect
from privacy.known_secrets import KnownSecrets
from privacy.password_fields import PasswordFieldRedactor
from privacy.sensitivity import DEFAULT_MAX, SensitivityFilter
from privacy.text_buffer import IDLE_SECONDS, TypedTextRedactor
from privacy.titles import TitleRedactor


def build_stages(
    denylist: Denylist | None = None,
    max_sensitivity: int = DEFAULT_MAX,
    phone_region: str = "US",
    idle_seconds: float = IDLE_SECONDS,
    leading: Sequence[AnyStage] = (),
    known_secrets: KnownSecrets | None = None,
) -> list[AnyStage]:
    """The privacy stages in order, after ``leading`` (see the module docstring).

    ``known_secrets``, shared with the screen mask, learns every span the typed-text
    stage redacts so the screen can mask it where it was echoed.
    """
    detector = (
        detect
        if phone_region == "US"
        else partial(detect, detectors=default_detectors(phone_region))
    )
    return [
        *leading,
        DeniedWindowSuppressor(denylist if denylist is not None else Denylist.default()),
        TitleRedactor(detector),
        PasswordFieldRedactor(),
        TypedTextRedactor(detector, idle_seconds=idle_seconds, known_secrets=known_secrets),
        SensitivityFilter(max_sensitivity),
    ]


def build_chain(
    denylist: Denylist | None = None,
    max_sensitivity: int = DEFAULT_MAX,
    phone_region: str = "US",
    idle_seconds: float = IDLE_SECONDS,
    leading: Sequence[AnyStage] = (),
    known_secrets: KnownSecrets | None = None,
) -> Chain:
    """The stage chain every event passes between the queue and the chunk writer.

    ``denylist`` defaults to the shipped list; pass one with the policy's and the
    person's additions. ``leading`` goes first (the daemon passes its consent gate).
    """
    return Chain(
        build_stages(denylist, max_sensitivity, phone_region, idle_seconds, leading, known_secrets)
    )
