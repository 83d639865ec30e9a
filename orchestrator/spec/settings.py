"""Participant settings merged from defaults, the role and the participant itself.

Later layers win; nested mappings merge key by key and lists replace. Each
merged value remembers the JSON path it came from, so a finding about a setting
points at the line that set it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from orchestrator.spec.model import JsonPath

DEFAULT_ROLE: Final = "participant"
COACH_ROLE: Final = "coach"
BUILTIN_ROLES: Final[Mapping[str, Mapping[str, Any]]] = {
    "host": {"start_conference_on_enter": True, "end_conference_on_exit": True},
    "participant": {},
    "listener": {"muted": True},
    COACH_ROLE: {},
}
# Keys of a participant that are not settings (they cannot be set by defaults or roles).
PARTICIPANT_ONLY_KEYS: Final = frozenset({"name", "to", "role"})


@dataclass
class MergedSettings:
    values: dict[str, Any] = field(default_factory=dict)
    # (setting, nested key, ...) -> JSON path in the file; absent for built-in role values.
    origins: dict[tuple[str, ...], JsonPath] = field(default_factory=dict)

    def origin(self, *keys: str) -> JsonPath | None:
        return self.origins.get(keys)


def _merge_into(
    target: dict[str, Any],
    origins: dict[tuple[str, ...], JsonPath],
    layer: Mapping[str, Any],
    prefix: tuple[str, ...],
    source: JsonPath | None,
) -> None:
    for key, value in layer.items():
        here = (*prefix, key)
        where = (*source, key) if source is not None else None
        existing = target.get(key)
        if isinstance(value, dict) and isinstance(existing, dict):
            merged = dict(existing)
            _merge_into(merged, origins, value, here, where)
            target[key] = merged
        else:
            target[key] = dict(value) if isinstance(value, dict) else value
            _drop_origins_below(origins, here)
            if isinstance(value, dict):
                _record_origins(origins, value, here, where)
        if where is not None:
            origins[here] = where
        else:
            origins.pop(here, None)


def _drop_origins_below(origins: dict[tuple[str, ...], JsonPath], prefix: tuple[str, ...]) -> None:
    for key in [k for k in origins if k[: len(prefix)] == prefix and len(k) > len(prefix)]:
        del origins[key]


def _record_origins(
    origins: dict[tuple[str, ...], JsonPath],
    value: Mapping[str, Any],
    prefix: tuple[str, ...],
    source: JsonPath | None,
) -> None:
    if source is None:
        return
    for key, nested in value.items():
        origins[(*prefix, key)] = (*source, key)
        if isinstance(nested, dict):
            _record_origins(origins, nested, (*prefix, key), (*source, key))


def role_names(roles: Mapping[str, Any]) -> list[str]:
    return sorted({*BUILTIN_ROLES, *roles})


def merge_settings(
    defaults: Mapping[str, Any],
    roles: Mapping[str, Any],
    participant: Mapping[str, Any],
    index: int,
) -> MergedSettings:
    """Settings of ``participants[index]``: defaults < role (built-in, then user) < participant."""
    merged = MergedSettings()
    _merge_into(merged.values, merged.origins, defaults, (), ("defaults",))
    role = participant.get("role", DEFAULT_ROLE)
    if isinstance(role, str):
        builtin = BUILTIN_ROLES.get(role)
        if builtin is not None:
            _merge_into(merged.values, merged.origins, builtin, (), None)
        user_role = roles.get(role)
        if isinstance(user_role, dict):
            _merge_into(merged.values, merged.origins, user_role, (), ("roles", role))
    own = {k: v for k, v in participant.items() if k not in PARTICIPANT_ONLY_KEYS}
    _merge_into(merged.values, merged.origins, own, (), ("participants", index))
    return merged
