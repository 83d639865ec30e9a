"""Rules the schema cannot express: names, roles, coaching, limits, numbers, From.

Every check reads the values defensively: it runs even when the schema already
found problems, so one pass reports everything, and it skips whatever is not
the expected shape (the schema has said so) or still names an unset variable.
"""

from __future__ import annotations

from typing import Any

from orchestrator.masking import read_url, shown_url
from orchestrator.spec.context import FileCheck
from orchestrator.spec.model import JsonPath
from orchestrator.spec.paths import format_path
from orchestrator.spec.schema import suggestion
from orchestrator.spec.settings import (
    BUILTIN_ROLES,
    COACH_ROLE,
    DEFAULT_ROLE,
    MergedSettings,
    merge_settings,
    role_names,
)
from orchestrator.texml import contract


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def participant_entries(data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    participants = data.get("participants")
    if not isinstance(participants, list):
        return []
    return [(index, entry) for index, entry in enumerate(participants) if isinstance(entry, dict)]


def merged_settings(data: dict[str, Any]) -> dict[int, MergedSettings]:
    defaults = _mapping(data.get("defaults"))
    roles = _mapping(data.get("roles"))
    return {
        index: merge_settings(defaults, roles, entry, index)
        for index, entry in participant_entries(data)
    }


def check_rules(check: FileCheck, merged: dict[int, MergedSettings]) -> None:
    data = check.data
    entries = participant_entries(data)
    names = _check_names(check, entries)
    _check_roles(check, entries)
    _check_coaching(check, entries, merged, names)
    _check_count(check, data)
    _check_from(check, data, entries, merged)
    _check_duplicate_numbers(check, data, entries)
    _check_merged_required(check, entries, merged)
    _check_callback_urls(check, check.data, ())


def _check_callback_urls(check: FileCheck, value: Any, path: JsonPath) -> None:
    """Every URL as the HTTP client reads it: one it would read otherwise than written (a
    password holding an unencoded # / ? [ ]) would send the callbacks or fetches elsewhere."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*path, key)
            # Not an http(s) URL at all is the schema's finding, said once.
            if _names_a_url(key) and isinstance(item, str) and item.startswith(_SCHEMES):
                if read_url(item) is None and not check.is_unresolved(here):
                    check.error(
                        check.location(here),
                        f"{format_path(here)}: {shown_url(item)}: the URL does not read as "
                        "written (percent-encode #, /, ?, [ and ] in its user and password)",
                    )
            else:
                _check_callback_urls(check, item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_callback_urls(check, item, (*path, index))


_SCHEMES = ("http://", "https://")


def _names_a_url(key: object) -> bool:
    return isinstance(key, str) and (key == "url" or key.endswith("_url"))


def _name_of(check: FileCheck, index: int, entry: dict[str, Any]) -> str | None:
    name = entry.get("name")
    path: JsonPath = ("participants", index, "name")
    if isinstance(name, str) and not check.is_unresolved(path) and path not in check.flagged:
        return name
    return None


def _check_names(check: FileCheck, entries: list[tuple[int, dict[str, Any]]]) -> dict[str, int]:
    """Unique participant names; returns each name's first index."""
    first: dict[str, int] = {}
    for index, entry in entries:
        name = _name_of(check, index, entry)
        if name is None:
            continue
        if name in first:
            other = first[name]
            line = check.location(("participants", other)).line
            path: JsonPath = ("participants", index, "name")
            check.error(
                check.location(path),
                f"participants[{index}].name: {check.shown(path, name)} is already the name of "
                f"participants[{other}] (line {line}); names must be unique",
            )
        else:
            first[name] = index
    return first


def _check_roles(check: FileCheck, entries: list[tuple[int, dict[str, Any]]]) -> None:
    roles = _mapping(check.data.get("roles"))
    known = role_names(roles)
    for index, entry in entries:
        role = entry.get("role")
        path: JsonPath = ("participants", index, "role")
        if (
            not isinstance(role, str)
            or role in known
            or check.is_unresolved(path)
            or path in check.flagged
        ):
            continue
        check.error(
            check.location(path),
            f"{format_path(path)}: unknown role {check.shown(path, role)}"
            f"{suggestion(role, known)}; "
            f"roles are {', '.join(known)}",
        )


def _shown_name(check: FileCheck, index: int, name: str | None) -> str:
    if name is None:
        return f"participants[{index}]"
    return check.shown(("participants", index, "name"), name)


# Whom each participant coaches, by index: the name it gives, and where that name is written.
_CoachTargets = dict[int, tuple[str, JsonPath | None]]


def _check_coaching(
    check: FileCheck,
    entries: list[tuple[int, dict[str, Any]]],
    merged: dict[int, MergedSettings],
    names: dict[str, int],
) -> None:
    coach_of = _coach_targets(check, entries, merged)
    for index, entry in entries:
        if (
            entry.get("role", DEFAULT_ROLE) == COACH_ROLE
            and merged[index].values.get("coach") is None
        ):
            path: JsonPath = ("participants", index)
            check.error(
                check.location((*path, "role") if "role" in entry else path),
                f"participants[{index}]: role coach needs coach: naming the participant to coach",
            )
        elif index in coach_of:
            _check_coach_target(check, index, entry, coach_of, names)


def _coach_targets(
    check: FileCheck,
    entries: list[tuple[int, dict[str, Any]]],
    merged: dict[int, MergedSettings],
) -> _CoachTargets:
    """Each coach's target, unless its coach: still names an unset variable or was refused."""
    coach_of: _CoachTargets = {}
    for index, _ in entries:
        coach = merged[index].values.get("coach")
        origin = merged[index].origin("coach")
        if isinstance(coach, str) and not (
            origin and (check.is_unresolved(origin) or origin in check.flagged)
        ):
            coach_of[index] = (coach, origin)
    return coach_of


def _check_coach_target(
    check: FileCheck,
    index: int,
    entry: dict[str, Any],
    coach_of: _CoachTargets,
    names: dict[str, int],
) -> None:
    """A coach's target is another participant, and not a coach itself."""
    target, origin = coach_of[index]
    here = f"participants[{index}].coach"
    location = check.location(origin or ("participants", index))
    shown_target = _shown_coach(check, target, origin)
    if target == _name_of(check, index, entry):
        check.error(location, f"{here}: {shown_target} cannot coach itself")
    elif target not in names:
        check.error(
            location,
            f"{here}: no participant is named {shown_target}{suggestion(target, list(names))}",
        )
    elif names[target] in coach_of:
        coached, coached_origin = coach_of[names[target]]
        check.error(
            location,
            f"{here}: {shown_target} is itself a coach (of "
            f"{_shown_coach(check, coached, coached_origin)}); "
            "a coach can only coach a participant who is not coaching",
        )


def _shown_coach(check: FileCheck, name: str, origin: JsonPath | None) -> str:
    """A coach: value as a message shows it (named, not shown, if from the environment)."""
    return check.shown(origin, name) if origin else repr(name)


def _check_count(check: FileCheck, data: dict[str, Any]) -> None:
    participants = data.get("participants")
    if not isinstance(participants, list):
        return
    conference = _mapping(data.get("conference"))
    limit = conference.get("max_participants")
    path: JsonPath = ("conference", "max_participants")
    low, high = contract.MAX_PARTICIPANTS_RANGE
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not low <= limit <= high
        or check.is_unresolved(path)
    ):
        if "max_participants" in conference:
            return  # the schema reports a bad limit; the default would only add noise
        limit, path = contract.DEFAULT_MAX_PARTICIPANTS, ("participants",)
    if len(participants) > limit and len(participants) <= high:
        where = (
            f"the conference admits at most {limit} (conference.max_participants)"
            if path[0] == "conference"
            else f"the conference admits at most {limit} unless conference.max_participants says more"
        )
        location = check.location(path) if path[0] == "conference" else check.key_location(path)
        check.error(location, f"participants: {len(participants)} participants but {where}")


def _check_from(
    check: FileCheck,
    data: dict[str, Any],
    entries: list[tuple[int, dict[str, Any]]],
    merged: dict[int, MergedSettings],
) -> None:
    conference = data.get("conference")
    if not isinstance(conference, dict) or conference.get("from") is not None:
        return  # without a conference mapping the schema has already said what is missing
    for index, _ in entries:
        if merged[index].values.get("from") is None:
            check.error(
                check.location(("participants", index)),
                f"participants[{index}]: no from number to call from; set conference.from "
                "(or from in defaults, the role or the participant)",
            )


def _check_duplicate_numbers(
    check: FileCheck, data: dict[str, Any], entries: list[tuple[int, dict[str, Any]]]
) -> None:
    if _mapping(data.get("conference")).get("allow_duplicate_numbers") is True:
        return
    dialled: dict[str, int] = {}
    for index, entry in entries:
        to = entry.get("to")
        base: JsonPath = ("participants", index, "to")
        numbers: list[tuple[JsonPath, Any]] = (
            [(base, to)]
            if isinstance(to, str)
            else [((*base, k), n) for k, n in enumerate(to)]
            if isinstance(to, list)
            else []
        )
        for path, number in numbers:
            if not isinstance(number, str) or check.is_unresolved(path) or path in check.flagged:
                continue
            key = number.lower() if number.lower().startswith(("sip:", "sips:")) else number
            other = dialled.setdefault(key, index)
            if other == index:
                continue
            other_name = _shown_name(check, other, _name_of(check, other, dict(entries)[other]))
            shown_number = number if path not in check.from_env else check.shown(path, number)
            check.error(
                check.location(path),
                f"{format_path(path)}: {shown_number} is also dialled for {other_name} "
                f"(participants[{other}]); set conference.allow_duplicate_numbers: true "
                "if that is intended",
            )


# Keys a nested setting needs once every layer is merged; layers may each give a part.
_MERGED_REQUIRED: tuple[tuple[tuple[str, ...], str], ...] = (
    (("status_callback",), "url"),
    (("recording", "status_callback"), "url"),
    (("machine_detection",), "mode"),
    (("machine_detection", "status_callback"), "url"),
    (("sip_auth",), "username"),
    (("sip_auth",), "password"),
)


def _check_merged_required(
    check: FileCheck,
    entries: list[tuple[int, dict[str, Any]]],
    merged: dict[int, MergedSettings],
) -> None:
    # One finding per place in the file, however many participants inherit the gap.
    missing: dict[tuple[JsonPath, str], list[int]] = {}
    for index, _ in entries:
        settings = merged[index]
        for setting, key in _MERGED_REQUIRED:
            value: Any = settings.values
            for part in setting:
                value = value.get(part) if isinstance(value, dict) else None
            if not isinstance(value, dict) or key in value:
                continue
            origin = settings.origin(*setting)
            if origin is None:
                continue
            missing.setdefault((origin, key), []).append(index)
    for (origin, key), indexes in missing.items():
        message = f"{format_path(origin)}: missing required key {key!r}"
        if origin[0] != "participants":
            names = [_shown_name(check, i, _name_of(check, i, dict(entries)[i])) for i in indexes]
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            message += f" (needed by {shown}; set it here or where they override it)"
        check.error(check.location(origin), message)


__all__ = ["BUILTIN_ROLES", "check_rules", "merged_settings", "participant_entries"]
