"""One run as a page: a single self-contained HTML file, printable, readable on a phone.

Inline CSS and SVG, no script and no external URL: it opens from a mail attachment or an
archive years later. Above the timeline, the figures a postmortem asks for; below it, the
summary apply printed (the same rows, ``report.summary``), each call's join, leave and cause,
and the recordings kept, linked as local files. On a narrow screen the timeline is drawn
for its width (names above their bars) and wide tables scroll within themselves.
"""

from __future__ import annotations

import functools
import os
from html import escape
from pathlib import Path
from urllib.parse import quote

from orchestrator.masking import mask_destination
from orchestrator.record.figures import Figures
from orchestrator.record.view import ConferenceView, RunView, unknown
from orchestrator.report.history import figure_lines, file_label, outcome, seconds
from orchestrator.report.summary import iso_time, participant_json, why
from orchestrator.report.timeline import render_svg

CSS = """
*{box-sizing:border-box}
body{margin:0 auto;max-width:1040px;padding:16px 12px 40px;font:15px/1.45 "DejaVu Sans",
"Liberation Sans",Arial,Helvetica,sans-serif;color:#111;background:#fff}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:2px solid #111}
h3{font-size:1em;margin:1.2em 0 .3em}
.meta,.facts{color:#333;font-size:.9em;overflow-wrap:anywhere}
.facts dt{font-weight:bold;float:left;clear:left;margin-right:.4em}.facts dd{margin:0 0 .2em}
.figures{display:flex;flex-wrap:wrap;gap:8px;margin:.6em 0}
.figure{border:2px solid #111;border-radius:6px;padding:6px 10px;min-width:150px;flex:1 1 150px}
.figure b{display:block;font-size:1.35em}.figure span{font-size:.85em;color:#333}
figure{margin:.8em 0}svg.timeline{max-width:100%;height:auto;display:block}
.narrow{display:none}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.88em}
th,td{text-align:left;padding:3px 8px 3px 0;border-bottom:1px solid #ccc;vertical-align:top}
td.bad{font-weight:bold}td.bad::before{content:"\\2717 "}td.good::before{content:"\\2713 "}
ul{padding-left:1.2em}audio{max-width:100%}
@media (max-width:760px){.wide{display:none}.narrow{display:block}.optional{display:none}}
@media print{body{max-width:none;font-size:11pt}.narrow{display:none}.wide{display:block}
.optional{display:table-cell}section,figure,table,.figures{break-inside:avoid}
a{color:#111;text-decoration:none}audio{display:none}}
"""


def _figure_cards(figures: Figures) -> str:
    missing = figures.longest_missing_s
    who = ", ".join(figures.longest_missing_who)
    cards = [
        (seconds(figures.first_connected_s), "to the first connected", figures.first_who or ""),
        (
            seconds(figures.all_connected_s) if figures.all_connected_s is not None else "never",
            f"until all {figures.wanted} wanted were connected",
            _never(figures) if figures.all_connected_s is None and figures.wanted else "",
        ),
        (
            seconds(missing) if missing is not None else "-",
            "longest with someone wanted missing",
            who,
        ),
    ]
    return (
        '<div class="figures">'
        + "".join(
            f'<div class="figure"><b>{escape(value)}</b><span>{escape(words)}'
            + (f" ({escape(note)})" if note else "")
            + "</span></div>"
            for value, words, note in cards
        )
        + "</div>"
    )


def _never(figures: Figures) -> str:
    absent = [name for name, joined in figures.joined_s.items() if joined is None]
    return f"{', '.join(absent)} never joined" if absent else "never all at once"


def _description(view: ConferenceView) -> str:
    fold = view.fold
    lines = figure_lines(view.figures)
    start, end = fold.start, fold.end
    span = (
        f"conference from {iso_time(start) or 'unknown'} to {iso_time(end) or 'after the record'}"
    )
    return f"{len(fold.lanes)} participants; " + "; ".join(lines) + f"; {span}."


def _joins(figures: Figures) -> str:
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(seconds(value) if value is not None else 'never')}</td></tr>"
        for name, value in figures.joined_s.items()
    )
    return (
        '<div class="scroll"><table><thead><tr><th>who</th><th>time to join</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _summary(view: ConferenceView, full: bool) -> str:
    if view.result is None:
        return "<p>No plan was made for this conference: nothing to summarise.</p>"
    head = (
        '<tr><th>name</th><th class="optional">role</th><th>to</th>'
        '<th class="optional">desired</th><th>observed</th><th class="optional">attempts</th>'
        "<th>note</th></tr>"
    )
    rows = []
    for outcome_ in view.result.participants:
        row = participant_json(outcome_)
        to = outcome_.to if full else row["to"]
        verdict = "good" if row["converged"] else "bad"
        note = "; ".join([*row["notes"], *([row["error"]] if row["error"] else [])])
        rows.append(
            f'<tr><td>{escape(row["name"])}</td><td class="optional">{escape(row["role"])}</td>'
            f'<td>{escape(to)}</td><td class="optional">{escape(row["desired"])}</td>'
            f'<td class="{verdict}">{escape(row["observed"])}</td>'
            f'<td class="optional">{row["attempts"]}</td><td>{escape(note)}</td></tr>'
        )
    failed = [p for p in view.result.participants if not p.converged]
    tail = "".join(f"<li>{escape(why(p))}</li>" for p in failed)
    verdict = f"<p>Did not converge:</p><ul>{tail}</ul>" if failed else "<p>All converged.</p>"
    return (
        f'<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody>'
        f"</table></div>{verdict}"
    )


def _clock(moment: float | None) -> str:
    stamp = iso_time(moment)
    return f'<span title="{stamp}">{stamp[11:19]}</span>' if stamp else "-"


def _calls(view: ConferenceView, full: bool) -> str:
    rows = []
    for lane in view.fold.lanes.values():
        for leg in lane.legs:
            to = leg.to if full else mask_destination(leg.to)
            rows.append(
                f'<tr><td>{escape(lane.name)}</td><td class="optional">{escape(to)}</td>'
                f"<td>{_clock(leg.dialed_at)}</td><td>{_clock(leg.connected_at)}</td>"
                f"<td>{_clock(leg.end)}</td><td>{escape(leg.cause or 'still on at the end of the record')}</td></tr>"
            )
    if not rows:
        return "<p>No call was placed.</p>"
    return (
        '<div class="scroll"><table><thead><tr><th>who</th><th class="optional">to</th>'
        "<th>dialed</th><th>joined</th><th>left</th><th>how it ended</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div><p>Times are UTC.</p>"
    )


def _link(target: Path, base: Path | None) -> str:
    path = os.path.relpath(target, base) if base is not None else str(target)
    return quote(path)


def _recordings(view: ConferenceView, run_folder: Path, base: Path | None) -> str:
    items = []
    for r in view.fold.recordings:
        href = _link(run_folder / r.path, base)
        whose = r.participant or "the conference"
        items.append(
            f'<li><a href="{href}">{escape(r.path)}</a>: {escape(whose)}, '
            f"{escape(seconds(r.duration_s) if r.duration_s is not None else 'length unknown')}, "
            f"{r.bytes} bytes, SHA-256 <code>{escape(r.sha256[:16])}\u2026</code>"
            f'<br><audio controls preload="none" src="{href}"></audio></li>'
        )
    for sid, reason in view.fold.not_kept.items():
        items.append(f"<li>{escape(sid)}: not kept ({escape(reason)})</li>")
    return f"<ul>{''.join(items)}</ul>" if items else "<p>No recording kept.</p>"


def _conference(
    view: ConferenceView, run: RunView, number: int, full: bool, base: Path | None
) -> str:
    fold = view.fold
    title = f"Timeline of conference {fold.name} ({fold.file}), run {run.run.id}"
    description = _description(view)
    draw = functools.partial(
        render_svg, fold, view.figures, title=title, description=description, full=full
    )
    wide = draw(prefix=f"w{number}-", standalone=False)
    narrow = draw(compact=True, prefix=f"n{number}-", standalone=False)
    gaps = unknown(view, sandbox=run.run.header.sandbox)
    not_known = (
        "<h3>Not known</h3><ul>" + "".join(f"<li>{escape(g)}</li>" for g in gaps) + "</ul>"
        if gaps
        else ""
    )
    return (
        f'<section class="conference"><h2>{escape(fold.name)} '
        f"<small>({escape(fold.file)})</small></h2>"
        f'<p class="meta">conference SID {escape(fold.sid or "none")}'
        f"{', ' + escape(str(fold.learned['reason'])) if fold.learned.get('reason') else ''}</p>"
        f"{_figure_cards(view.figures)}"
        f'<figure class="wide">{wide}</figure><figure class="narrow">{narrow}</figure>'
        f"<h3>Time to join</h3>{_joins(view.figures)}"
        f"<h3>Summary</h3>{_summary(view, full)}"
        f"<h3>Calls</h3>{_calls(view, full)}"
        f"<h3>Recordings</h3>{_recordings(view, run.run.folder, base)}{not_known}</section>"
    )


def render_run_html(view: RunView, *, full: bool = False, base: Path | None = None) -> str:
    """The page; ``base``: the folder it is written to (recordings are linked relative to it)."""
    header = view.run.header
    names = ", ".join(c.fold.name for c in view.conferences) or "no conference"
    ended = "interrupted: no end recorded" if header.interrupted else f"ended {header.ended}"
    facts = [
        ("command", "orchestrator " + " ".join(header.argv)),
        ("files", ", ".join(file_label(header, str(f.get("path"))) for f in header.files)),
        ("orchestrator", header.version + (" (--sandbox)" if header.sandbox else "")),
        (
            "account",
            ", ".join(f"{a['account_sid']} at {a['base_url']}" for a in header.accounts) or "-",
        ),
        ("record", f"{view.run.folder} ({view.events} events)"),
    ]
    facts_html = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    sections = "".join(
        _conference(c, view, number, full, base) for number, c in enumerate(view.conferences)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(names)}: run {escape(header.id)}</title><style>{CSS}</style></head>"
        f"<body><header><h1>{escape(names)}</h1>"
        f'<p class="meta">Run {escape(header.id)}: started {escape(header.started)}, '
        f"{escape(ended)}, {escape(outcome(header))}</p>"
        f'<dl class="facts">{facts_html}</dl></header>{sections}</body></html>\n'
    )


def render_run_svg(view: RunView, *, full: bool = False) -> str:
    """The first conference's timeline alone, as an SVG file."""
    if not view.conferences:
        raise ValueError("the run has no conference to draw")
    conference = view.conferences[0]
    fold = conference.fold
    title = f"Timeline of conference {fold.name} ({fold.file}), run {view.run.id}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + render_svg(
            fold, conference.figures, title=title, description=_description(conference), full=full
        )
        + "\n"
    )
