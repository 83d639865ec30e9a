// The sandbox's inspector: state.json polled once a second and laid out (every value comes
// masked from the sandbox; the page only arranges it). A banner says when the sandbox stops
// answering, or no longer takes the key.
"use strict";
(function () {
  const P = window.Page;
  const el = P.el;
  const POLL_MS = 1000;
  const SHOWN = 100; // requests shown (the sandbox keeps more)

  function fields(map) {
    const names = Object.keys(map || {});
    if (!names.length) return el("span", { class: "muted" }, "none");
    const list = el("dl", { class: "fields" });
    for (const name of names) list.append(el("dt", {}, name), el("dd", {}, map[name]));
    return list;
  }

  function statusClass(status) {
    if (status === null || status === undefined) return "bad";
    if (status < 300) return "good";
    return status === 429 ? "pending" : "bad";
  }

  function limits(data) {
    const box = el("div", { class: "scroll" });
    const rows = data.limits.map((l) => el("tr", {},
      el("td", { class: "name" }, l.name),
      el("td", { "data-label": "window" }, l.limit ? `${l.used} of ${l.limit} in ${l.window_s}s` : `${l.used} (no limit)`),
      el("td", { "data-label": "used" }, l.limit ? el("meter", { min: 0, max: l.limit, value: l.used }) : "-")));
    box.append(el("table", { class: "cards" }, el("tbody", {}, ...rows)));
    const by = Object.entries(data.requests_by_method).map(([m, n]) => `${n} ${m}`).join(", ");
    const limited = Object.entries(data.rate_limited).map(([c, n]) => `${n} \u00d7 ${c}`).join(", ");
    box.append(el("p", { class: "meta" }, `API requests so far: ${by}; answered 429: ${limited}`));
    document.getElementById("limits").replaceChildren(box);
  }

  function conferences(data) {
    const shown = data.conferences.map((c) => el("div", { class: "card conference", "data-sid": c.sid },
      el("h3", {}, `${c.friendly_name} `, el("span", { class: "badge" }, c.status)),
      el("p", { class: "meta mono" }, c.sid),
      c.legs.length ? el("div", { class: "scroll" }, el("table", { class: "cards" },
        el("thead", {}, el("tr", {}, ...["label", "to", "status", "held", "call"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...c.legs.map((leg) => el("tr", { "data-call": leg.call_sid },
          el("td", { class: "name" }, leg.label || "(no label)"),
          el("td", { "data-label": "to" }, el("span", { class: "mono" }, leg.to)),
          el("td", { class: "status", "data-label": "status" }, leg.status),
          el("td", { "data-label": "held" }, [leg.muted && "muted", leg.hold && "on hold",
            leg.coaching && "coaching"].filter(Boolean).join(" \u00b7 ") || "-"),
          el("td", { "data-label": "call" }, el("span", { class: "mono" }, leg.call_sid)))))))
        : el("p", { class: "meta" }, "no one in it now")));
    document.getElementById("conferences").replaceChildren(
      ...(shown.length ? shown : [el("p", { class: "meta" }, "no conference yet")]));
  }

  function attempt(a, index) {
    const answer = a.status === null ? a.answer : `HTTP ${a.status}${a.answer ? ` \u201c${a.answer}\u201d` : ""}`;
    return el("li", { class: "attempt" },
      el("span", { class: statusClass(a.status) }, `attempt ${index + 1} at ${P.clock(a.at)}: ${answer}`),
      el("dl", { class: "fields signature" }, ...Object.entries(a.signature).flatMap(([k, v]) =>
        [el("dt", {}, k), el("dd", { class: "mono" }, v)])));
  }

  function callbacks(data) {
    const shown = data.callbacks.map((c) => el("div", { class: "card callback", "data-number": c.number },
      el("h3", {}, `${P.clock(c.at)} ${c.what}`),
      el("p", { class: "meta mono" }, `${c.method} ${c.url}`),
      el("ol", { class: "attempts" }, ...c.attempts.map(attempt)),
      el("details", {}, el("summary", {}, "fields"), fields(c.fields))));
    const d = data.deliveries;
    const summary = el("p", { class: "meta" }, `${d.sent} delivered, ${d.failed} failed attempts, ` +
      `${d.retried} retries, ${d.abandoned} abandoned, ${d.pending} pending` +
      (d.not_local ? `; ${d.not_local} not sent: their URL is not on this machine (--allow-remote-callbacks sends them)` : ""));
    document.getElementById("callbacks").replaceChildren(summary,
      ...(shown.length ? shown : [el("p", { class: "meta" }, "none sent yet")]));
  }

  function requests(data) {
    const rows = data.requests.slice(0, SHOWN).map((r) => el("tr", { class: "request", "data-number": r.number },
      el("td", { class: "name", "data-label": "at" }, P.clock(r.at)),
      el("td", { class: "wide-cell", "data-label": "request" }, el("span", { class: "mono" }, `${r.method} ${r.path}`)),
      el("td", { class: `status ${statusClass(r.status)}`, "data-label": "status" },
        r.status === null ? "connection dropped" : String(r.status)),
      el("td", { class: "ms", "data-label": "took" }, `${r.ms} ms`),
      el("td", { class: "wide-cell", "data-label": "fields" },
        el("details", {}, el("summary", {}, `${Object.keys(r.fields).length + Object.keys(r.query).length} field(s); key: ${r.key}`),
          fields({ ...r.query, ...r.fields })))));
    const head = el("tr", {}, ...["at", "request", "status", "took", "fields"].map((h) => el("th", {}, h)));
    document.getElementById("requests").replaceChildren(rows.length
      ? el("div", { class: "scroll" }, el("table", { class: "cards" }, el("thead", {}, head), el("tbody", {}, ...rows)))
      : el("p", { class: "meta" }, "none received yet"));
  }

  function render(data) {
    P.serverTime(data.now);
    document.getElementById("about").textContent =
      `account ${data.account_sid} \u00b7 up ${P.duration(data.uptime_s)} \u00b7 updated ${P.clock(data.now)}`;
    limits(data);
    conferences(data);
    callbacks(data);
    requests(data);
    const scenario = JSON.stringify(data.scenario, null, 2);
    const pre = document.getElementById("scenario");
    if (pre.textContent !== scenario) pre.textContent = scenario;
  }

  async function poll() {
    try {
      const answer = await fetch("state.json", { cache: "no-store", credentials: "same-origin" });
      if (answer.status === 401) {
        P.banner("The sandbox no longer takes this page's key: open the URL it printed.", "bad");
      } else if (!answer.ok) {
        P.banner(`The sandbox answered ${answer.status}; trying again\u2026`, "bad");
      } else {
        render(await answer.json());
        P.banner(null);
      }
    } catch (error) {
      P.banner("The sandbox does not answer (stopped?); trying again\u2026", "bad");
    }
    setTimeout(poll, POLL_MS);
  }

  poll();
})();
