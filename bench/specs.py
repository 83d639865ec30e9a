"""Conference files for the benchmarks: N participants, distinct numbers, one fixed seed."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from orchestrator.texml.contract import MAX_PARTICIPANTS_RANGE

APPLICATION_SID = "1846572522338780702"
CALLER = "+12065550100"
SEED = 20240601


def participant_names(count: int) -> list[str]:
    return [f"p{index:04d}" for index in range(count)]


def conference_document(name: str, count: int, *, block: int = 0) -> dict[str, Any]:
    """One conference of ``count`` participants; ``block`` keeps numbers distinct across files.

    Numbers are shuffled with a fixed seed so nothing depends on them being sorted.
    """
    numbers = [f"+1555{block:03d}{index:05d}" for index in range(count)]
    random.Random(SEED + block).shuffle(numbers)
    return {
        "version": 1,
        "conference": {
            "name": name,
            "application_sid": APPLICATION_SID,
            "from": CALLER,
            # Telnyx admits 250 by default; a big call has to ask for more.
            "max_participants": MAX_PARTICIPANTS_RANGE[1],
        },
        "participants": [
            {"name": person, "to": number}
            for person, number in zip(participant_names(count), numbers, strict=True)
        ],
    }


def write_conference(directory: Path, name: str, count: int, *, block: int = 0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    document = conference_document(name, count, block=block)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
