"""One kept run, read back: its header, its conferences folded, the summary the run printed.

The summary comes from the same run model apply used, fed the log's events in order, so
``history RUN`` shows the table apply showed (as of the run's end), while the fold adds what
the record learned afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engine.results import ConferenceResult
from orchestrator.engine.run_model import RunModel
from orchestrator.record import facts
from orchestrator.record.codec import parse_iso
from orchestrator.record.figures import Figures, figures
from orchestrator.record.fold import ConferenceFold, RunFold
from orchestrator.record.runs import StoredRun

# The record's own events, which the run model has no fold for.
RECORD_FACTS = (
    facts.CallLearned,
    facts.ConferenceLearned,
    facts.RecordingKept,
    facts.RecordingNotKept,
)


@dataclass(frozen=True)
class ConferenceView:
    fold: ConferenceFold
    result: ConferenceResult | None
    figures: Figures


@dataclass(frozen=True)
class RunView:
    run: StoredRun
    conferences: list[ConferenceView]
    events: int
    unreadable: int  # lines of the log that could not be read (one cut short by a kill)
    run_end: float | None


def view_of(run: StoredRun) -> RunView:
    events, unreadable = run.events()
    fold = RunFold()
    model = RunModel(watching=run.header.watch)
    for event in events:
        fold.add(event)
        if not isinstance(event, RECORD_FACTS):
            model.publish(event)
    header = run.header
    run_end = parse_iso(header.ended) if header.ended else fold.last_at
    results = {r.path: r for r in model.results()}
    conferences = []
    for conference in fold.conferences.values():
        result = results.get(conference.file)
        if result is not None:
            result.duration_s = max(0.0, (run_end or conference.last_at) - conference.planned_at)
        conferences.append(ConferenceView(conference, result, figures(conference, run_end)))
    return RunView(run, conferences, len(events), unreadable, run_end)


def unknown(view: ConferenceView, *, sandbox: bool = False) -> list[str]:
    """What the record does not know about the conference, one line each (``sandbox``: the
    run's API was a --sandbox that ended with it, so nothing more can be learned)."""
    later = (
        "the --sandbox run's simulation ended with it; nothing more can be learned"
        if sandbox
        else "history --fetch asks the API"
    )
    lines = []
    fold = view.fold
    for lane in fold.lanes.values():
        for leg in lane.legs:
            if leg.end is None and (leg.connected_at is not None or leg.dialed_at is not None):
                status = leg.learned.get("status")
                still = f" (the API said {status})" if isinstance(status, str) else ""
                lines.append(f"{lane.name}: still on when the record ends{still} ({later})")
    if fold.sid is not None and fold.end is None:
        lines.append(f"the conference's end: not known ({later})")
    for sid, why in fold.not_kept.items():
        lines.append(f"recording {sid}: not kept ({why})")
    return lines
