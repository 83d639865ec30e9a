// What the board and the inspector share: building elements (text is always textContent),
// times said briefly, the banner, and a clock for "since" and "until" that ticks once a second
// from the server's time (the page's own clock may be off).
"use strict";
window.Page = (function () {
  let offset = 0; // server time minus this page's time, in seconds

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function now() {
    return Date.now() / 1000 + offset;
  }

  function serverTime(seconds) {
    offset = seconds - Date.now() / 1000;
  }

  function two(n) {
    return String(n).padStart(2, "0");
  }

  function clock(unix) {
    if (!unix) return "-";
    const d = new Date(unix * 1000);
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m${two(s % 60)}s`;
    return `${Math.floor(m / 60)}h${two(m % 60)}m`;
  }

  function since(unix, words) {
    // A span the clock keeps current: "12s" (or words around it, "{} ago").
    return el("span", { "data-since": unix, "data-words": words || "{}" }, "");
  }

  function until(unix, words) {
    return el("span", { "data-until": unix, "data-words": words || "in {}" }, "");
  }

  function tick() {
    const t = now();
    for (const node of document.querySelectorAll("[data-since]")) {
      const words = node.getAttribute("data-words");
      node.textContent = words.replace("{}", duration(t - Number(node.getAttribute("data-since"))));
    }
    for (const node of document.querySelectorAll("[data-until]")) {
      const left = Number(node.getAttribute("data-until")) - t;
      node.textContent = left > 0 ? node.getAttribute("data-words").replace("{}", duration(left)) : "now";
    }
  }

  function banner(text, tone) {
    const node = document.getElementById("banner");
    if (!node) return;
    node.hidden = !text;
    node.className = `banner ${tone || ""}`;
    node.textContent = text || "";
  }

  function meaning(word) {
    return ["good", "pending", "bad", "muted"].includes(word) ? word : "muted";
  }

  setInterval(tick, 1000);
  return { el, now, serverTime, clock, duration, since, until, tick, banner, meaning };
})();
