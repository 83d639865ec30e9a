// The board: the run as the server's snapshots say it (every word chosen by the server), the
// recent events as they come, and a banner when the stream is lost or the run has ended.
"use strict";
(function () {
  const P = window.Page;
  const el = P.el;
  const MAX_EVENTS = 100;
  const sections = new Map(); // conference file -> its section
  const names = new Map(); // conference file -> its name
  let lastEvent = 0;
  let ended = false;
  let source = null;

  function countsLine(counts) {
    const line = el("p", { class: "counts" });
    counts.forEach((part, index) => {
      if (index) line.append(", ");
      line.append(el("span", { class: P.meaning(part.meaning) }, part.text));
    });
    return line;
  }

  function renderRun(data) {
    const run = data.run;
    const called = [...names.values()].join(", ") || "no conference yet";
    const head = document.getElementById("run");
    head.replaceChildren(
      `${called} \u00b7 ${run.watching ? "watching" : "applying"} since ${P.clock(run.started_at)} \u00b7 `,
      P.since(run.started_at, "{} elapsed"),
      ` \u00b7 numbers ${data.full ? "shown" : "masked"}`,
    );
    const overview = document.getElementById("overview");
    const waits = el("ul", { class: "waits" });
    if (run.paused_until > P.now()) {
      waits.append(el("li", {}, "dials paused until ", P.clock(run.paused_until), " (",
        P.until(run.paused_until), `): ${run.pause_why}`));
    }
    if (run.capped) waits.append(el("li", {}, run.capped));
    overview.replaceChildren(
      el("progress", { max: Math.max(run.total, 1), value: run.settled, "aria-label": "settled" }),
      el("p", { class: "meta" }, `${run.settled}/${run.total} settled \u00b7 ${run.dials} \u00b7 ${run.rate_limited} rate-limited`),
      countsLine(run.counts),
      waits.childElementCount ? waits : "",
    );
  }

  function held(row) {
    const parts = [];
    if (row.muted) parts.push("muted");
    if (row.hold) parts.push("on hold");
    if (row.coaching) parts.push(`coaching ${row.coaching}`);
    return parts.join(" \u00b7 ") || "-";
  }

  function observedMark(row) {
    if (row.converged) return "good";
    return row.observed_meaning === "pending" ? "pending" : "bad";
  }

  function personRow(row) {
    const notes = el("td", { class: "notes", "data-label": "notes" }, row.notes.join("; ") || "");
    // The participant's last event, when it says more than the observed word does.
    const last = row.last && row.last.text !== row.observed ? row.last : null;
    if (last) {
      notes.append(el("span", { class: "last" }, `last: ${last.text} (`,
        P.since(last.at, "{} ago"), ")"));
    }
    if (!row.notes.length && !last) notes.classList.add("empty");
    const since = row.since ? el("span", {}, `${P.clock(row.since)} (`, P.since(row.since), ")") : "-";
    const cell = (name, label, value, extra) =>
      el("td", { class: `${name}${value === "-" ? " empty" : ""} ${extra || ""}`, "data-label": label }, value);
    return el("tr", { "data-participant": row.name, class: row.converged ? "converged" : "not-converged" },
      el("td", { class: "name" }, row.name),
      cell("role", "role", row.role),
      el("td", { class: "to", "data-label": "number" }, el("span", { class: "mono" }, row.to)),
      cell("desired", "desired", row.desired, P.meaning(row.desired_meaning)),
      el("td", { class: `observed ${P.meaning(row.observed_meaning)}`, "data-label": "observed" },
        el("span", { class: `mark-${observedMark(row)}` }, row.observed)),
      cell("since", "since", since),
      cell("attempts", "attempts", String(row.attempts)),
      cell("held", "held", held(row)),
      cell("amd", "detection", row.answered_by || "-"),
      notes,
    );
  }

  function editBox(edit) {
    if (!edit) return "";
    const box = el("div", { class: edit.applied_at ? "edit history" : "edit" },
      el("h3", {}, `Last edit refused at ${P.clock(edit.at)}`),
      el("ul", {}, ...edit.findings.map((f) => el("li", {}, el("code", {}, f.where), ` ${f.message}`))),
    );
    box.append(el("p", { class: "meta" }, edit.applied_at
      ? `A valid version was applied since, at ${P.clock(edit.applied_at)}.`
      : "Not applied: the last valid version stays in force."));
    return box;
  }

  function figureOf(kind, svg, section) {
    let figure = section.querySelector(`figure.${kind}`);
    if (!figure) {
      figure = el("figure", { class: kind });
      section.querySelector(".timeline-box").append(figure);
    }
    if (figure.dataset.drawn !== svg) {
      figure.innerHTML = svg; // drawn and escaped by the server (report/timeline.py)
      figure.dataset.drawn = svg;
    }
  }

  function sectionFor(conference) {
    let section = sections.get(conference.file);
    if (!section) {
      section = el("section", { class: "conference", "data-file": conference.file },
        el("div", { class: "head" }), el("div", { class: "people" }),
        el("details", { class: "timeline", open: true }, el("summary", {}, "Timeline"),
          el("div", { class: "timeline-box" })));
      document.getElementById("conferences").append(section);
      sections.set(conference.file, section);
    }
    return section;
  }

  function renderConference(c) {
    const section = sectionFor(c);
    const waits = el("ul", { class: "waits" }, ...c.waits.map((w) => el("li", {}, w)));
    section.querySelector(".head").replaceChildren(
      el("h2", {}, `${c.name} `, el("span", { class: "badge status" }, c.status || "not created yet")),
      el("p", { class: "meta" }, `${c.file} \u00b7 conference ${c.sid || "-"} \u00b7 `,
        c.started_at ? P.since(c.started_at, "{} elapsed") : ""),
      countsLine(c.counts),
      el("p", { class: "meta" }, `${c.settled}/${c.total} settled \u00b7 ${c.converged} converged \u00b7 ${c.dials} \u00b7 ${c.rate_limited} rate-limited`),
      c.waits.length ? waits : "",
      c.error ? el("div", { class: "error" }, c.error) : "",
      editBox(c.edit),
    );
    const head = el("tr", {}, ...["name", "role", "number", "desired", "observed", "since",
      "attempts", "held", "detection", "notes"].map((h) => el("th", { scope: "col" }, h)));
    section.querySelector(".people").replaceChildren(el("div", { class: "scroll" },
      el("table", { class: "cards" }, el("thead", {}, head),
        el("tbody", {}, ...c.participants.map(personRow)))));
    if (c.timeline) drawTimeline(section, c.timeline);
  }

  function drawTimeline(section, pictures) {
    const timeline = section.querySelector("details.timeline");
    timeline.hidden = !pictures.wide;
    if (pictures.wide) {
      figureOf("wide", pictures.wide, section);
      figureOf("narrow", pictures.narrow, section);
    }
  }

  // A page that connects is given every conference; after that only those that changed.
  function render(data) {
    P.serverTime(data.now);
    for (const c of data.conferences) names.set(c.file, c.name);
    renderRun(data);
    data.conferences.forEach(renderConference);
    P.tick();
  }

  function addEvent(line) {
    const list = document.getElementById("events");
    const who = line.participant ? `${line.conference}/${line.participant}` : line.conference;
    list.prepend(el("li", { class: line.tone || "" }, el("time", {}, P.clock(line.at)),
      who ? el("b", {}, `${who}: `) : "", line.text));
    while (list.childElementCount > MAX_EVENTS) list.lastElementChild.remove();
  }

  function connect() {
    source = new EventSource("events");
    // A browser keeps at most six connections to one server: a seventh tab's stream waits.
    const slow = setTimeout(() => {
      if (source.readyState !== EventSource.OPEN && !ended) {
        P.banner("Still connecting\u2026 (a browser holds six streams to one server at most: " +
          "close other tabs of this board)", "bad");
      }
    }, 5000);
    source.addEventListener("open", () => { clearTimeout(slow); if (!ended) P.banner(null); });
    source.addEventListener("error", () => {
      if (!ended) P.banner("The stream from the run was lost; trying again\u2026", "bad");
    });
    source.addEventListener("reset", () => {
      lastEvent = 0;
      document.getElementById("events").replaceChildren();
    });
    source.addEventListener("event", (message) => {
      const id = Number(message.lastEventId);
      if (id <= lastEvent) return; // seen before the stream was resumed
      lastEvent = id;
      addEvent(JSON.parse(message.data));
    });
    source.addEventListener("board", (message) => render(JSON.parse(message.data)));
    source.addEventListener("timeline", (message) => {
      const pictures = JSON.parse(message.data);
      const section = sections.get(pictures.file);
      if (section) drawTimeline(section, pictures);
    });
    source.addEventListener("end", (message) => {
      ended = true;
      source.close();
      const end = JSON.parse(message.data);
      const code = end.exit_code === null ? "" : ` (exit code ${end.exit_code})`;
      P.banner(`The run has ended at ${P.clock(end.at)}${code}: this page no longer changes.`, "muted");
    });
  }

  connect();
})();
