"""Validity of a run, from the sandbox's own record of the dials it accepted.

A fast run that dialed someone twice, or skipped someone, is not a result:
orchestrator's runs must dial every participant exactly once. The official
SDK's losses and duplicates are recorded as results of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DialCount:
    expected: int  # participants in the file(s)
    dials: int  # dials the sandbox accepted for them
    conferences: int  # conferences of the name(s) that exist afterwards
    missing: tuple[str, ...]  # participants dialed zero times
    duplicated: Mapping[str, int]  # participant -> times dialed, where more than once
    unexpected: tuple[str, ...]  # labels dialed that are not in the file(s)
    wrong_number: tuple[str, ...]  # participants dialed at a number not theirs

    @property
    def lost(self) -> int:
        return len(self.missing)

    @property
    def extra_dials(self) -> int:
        return sum(times - 1 for times in self.duplicated.values())

    def problems(self, *, conferences_expected: int) -> list[str]:
        """Why this is not "everyone dialed exactly once"; empty when it is."""
        found: list[str] = []
        if self.missing:
            found.append(f"{len(self.missing)} participant(s) never dialed ({some(self.missing)})")
        if self.duplicated:
            found.append(
                f"{len(self.duplicated)} participant(s) dialed more than once "
                f"({some(f'{name} x{times}' for name, times in sorted(self.duplicated.items()))})"
            )
        if self.unexpected:
            found.append(f"{len(self.unexpected)} unexpected label(s) ({some(self.unexpected)})")
        if self.wrong_number:
            found.append(
                f"{len(self.wrong_number)} dialed at the wrong number ({some(self.wrong_number)})"
            )
        if self.conferences != conferences_expected:
            found.append(f"{self.conferences} conference(s) created, not {conferences_expected}")
        return found


# A connected leg: the call's word, and the participant's (the sandbox may give either).
CONNECTED_STATUSES = frozenset({"in-progress", "connected"})


def not_connected(
    dials: Iterable[Mapping[str, Any]],
    conference_sids: Iterable[str],
    expected: Mapping[str, str],
) -> tuple[str, ...]:
    """Participants dialed into these conferences none of whose legs is connected now."""
    sids = set(conference_sids)
    mine = [dial for dial in dials if dial.get("conference_sid") in sids]
    dialed = {str(dial.get("label")) for dial in mine}
    connected = {
        str(dial.get("label")) for dial in mine if dial.get("status") in CONNECTED_STATUSES
    }
    return tuple(name for name in expected if name in dialed and name not in connected)


def count_dials(
    dials: Iterable[Mapping[str, Any]],
    conference_sids: Iterable[str],
    expected: Mapping[str, str],
) -> DialCount:
    """Count the dials into these conferences against ``expected`` (label -> number)."""
    sids = set(conference_sids)
    mine = [dial for dial in dials if dial.get("conference_sid") in sids]
    times = Counter(str(dial.get("label")) for dial in mine)
    wrong = sorted(
        {
            str(dial.get("label"))
            for dial in mine
            if dial.get("label") in expected and dial.get("to") != expected[str(dial["label"])]
        }
    )
    return DialCount(
        expected=len(expected),
        dials=len(mine),
        conferences=len(sids),
        missing=tuple(name for name in expected if times[name] == 0),
        duplicated={name: n for name, n in sorted(times.items()) if n > 1 and name in expected},
        unexpected=tuple(sorted(name for name in times if name not in expected)),
        wrong_number=tuple(wrong),
    )


def some(items: Iterable[str], limit: int = 5) -> str:
    shown: Sequence[str] = list(items)
    head = ", ".join(shown[:limit])
    return head + (f", ... {len(shown) - limit} more" if len(shown) > limit else "")
