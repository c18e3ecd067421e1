// callrec's recordings portal: signs a person in with their token, lists the recordings the
// recordings API lets them see, plays, downloads and deletes what their `access` allows.
// Everything shown is built with textContent (never HTML from data): participant names come
// from the calling platform. The token lives in sessionStorage, so it goes when the tab does.
"use strict";

(function () {
  const TOKEN_KEY = "callrec.token";
  const PAGE_SIZE = 20;
  const $ = (id) => document.getElementById(id);

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    who: null,
    org: null,
    page: 1,
    filters: { from: "", to: "", participant: "" },
    items: [],
    pending: null,
  };

  // ---- The API -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** One API call with the bearer token; JSON back, or an ApiError with the server's message. */
  async function api(method, path, extraHeaders) {
    const headers = Object.assign({ Authorization: "Bearer " + state.token }, extraHeaders || {});
    let response;
    try {
      response = await fetch(path, { method, headers, cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
    }
    if (!response.ok) {
      let message = "The server answered " + response.status + ".";
      try {
        const body = await response.json();
        if (body && body.message) message = body.message;
      } catch (e) { /* not JSON: keep the status */ }
      throw new ApiError(response.status, message);
    }
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    return type.includes("json") ? response.json() : null;
  }

  const isUser = () => state.who && state.who.role === "user";

  function listPath() {
    const q = new URLSearchParams({ max: String(PAGE_SIZE), page: String(state.page) });
    if (state.filters.from) q.set("from", state.filters.from);
    // The API's `to` is exclusive; a person picking a day means to include it.
    if (state.filters.to) q.set("to", nextDay(state.filters.to));
    if (state.filters.participant) q.set("participant", state.filters.participant);
    if (isUser()) return "/v1/convergedRecordings?" + q;
    if (state.org) q.set("orgId", state.org);
    return "/v1/admin/convergedRecordings?" + q;
  }

  const recordingPath = (id) => "/v1/convergedRecordings/" + encodeURIComponent(id);

  // ---- Formatting ----------------------------------------------------------------------

  // In the person's preferred language (the browser's Accept-Language), not the build's.
  const locales = navigator.languages && navigator.languages.length ? navigator.languages : undefined;
  const dateTime = new Intl.DateTimeFormat(locales, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
  const dateOnly = new Intl.DateTimeFormat(locales, { year: "numeric", month: "short", day: "numeric" });

  function nextDay(day) {
    const d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds || 0));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h ? h + ":" + pad(m) + ":" + pad(s % 60) : m + ":" + pad(s % 60);
  }

  function size(bytes) {
    if (bytes == null) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(0) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  /** The participants' names, then the numbers among their addresses: "Alice, Dave · +15550199". */
  function participantText(r) {
    const names = [];
    const numbers = [];
    for (const p of r.participants || []) {
      const name = p.names && p.names[0];
      if (name) names.push(name);
      for (const address of p.addresses || []) {
        const user = address.replace(/^(sips?|tel):/, "").split("@")[0].split(";")[0];
        if (/^\+?[0-9][0-9 ().-]*$/.test(user)) numbers.push(user);
        else if (!name) names.push(user);
      }
    }
    return [names.join(", "), numbers.join(", ")].filter(Boolean).join(" · ");
  }

  function directionText(direction) {
    if (direction === "inbound") return "↙ Inbound";
    if (direction === "outbound") return "↗ Outbound";
    return direction ? direction.charAt(0).toUpperCase() + direction.slice(1) : "—";
  }

  function expiry(r) {
    if (r.legalHold) return ["Under legal hold", r.expiryReason || "Kept until the hold is lifted"];
    if (!r.expiresAt) return ["Kept without limit", r.expiryReason || ""];
    return ["Expires " + dateOnly.format(new Date(r.expiresAt)), r.expiryReason || ""];
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  // ---- Status --------------------------------------------------------------------------

  function say(text) {
    $("status").textContent = text;
  }

  function fail(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = !text;
  }

  // ---- Signing in and out --------------------------------------------------------------

  async function signIn(token) {
    state.token = token;
    $("sign-in-error").hidden = true;
    try {
      state.who = await api("GET", "/v1/whoami");
    } catch (e) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(e.status === 401 ? "That token was not accepted. Check it and try again." : e.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    showList();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.who = null;
    stopPlayer();
    showSignIn("");
  }

  function showSignIn(error) {
    $("recordings").hidden = true;
    $("who").hidden = true;
    $("sign-in").hidden = false;
    const box = $("sign-in-error");
    box.textContent = error;
    box.hidden = !error;
    $("token").value = "";
    $("token").focus();
  }

  function showList() {
    const who = state.who;
    $("sign-in").hidden = true;
    $("recordings").hidden = false;
    $("who").hidden = false;
    $("who-person").textContent = who.person || who.token;
    $("who-role").textContent = roleName(who.role);
    $("list-title").textContent = isUser() ? "My recordings" : "Organisation recordings";
    const orgs = who.orgs || [];
    state.org = orgs[0] || null;
    const field = $("org-field");
    field.hidden = isUser() || orgs.length < 2;
    const select = $("org");
    select.replaceChildren(...orgs.map((o) => el("option", null, o)));
    state.page = 1;
    load().then(followHash);
  }

  function roleName(role) {
    return {
      user: "",
      "customer-admin": "Administrator",
      "partner-admin": "Partner administrator",
      "compliance-officer": "Compliance officer",
      "read-only": "Read-only",
    }[role] ?? role;
  }

  // ---- The list ------------------------------------------------------------------------

  async function load() {
    fail("");
    say("Loading recordings…");
    $("list").setAttribute("aria-busy", "true");
    let body;
    try {
      body = await api("GET", listPath());
    } catch (e) {
      $("list").removeAttribute("aria-busy");
      if (e.status === 401) return signOut();
      say("");
      fail("The recordings could not be loaded: " + e.message);
      state.items = [];
      render({ items: [], hasMore: false });
      $("empty").hidden = true;
      return;
    }
    $("list").removeAttribute("aria-busy");
    state.items = body.items || [];
    render(body);
    const n = state.items.length;
    say(n === 0 ? "No recordings." : n === 1 ? "1 recording." : n + " recordings.");
  }

  function render(body) {
    const rows = state.items.map(row);
    $("rows").replaceChildren(...rows);
    const empty = state.items.length === 0;
    $("list").hidden = empty;
    $("empty").hidden = !empty;
    const filtered = state.filters.from || state.filters.to || state.filters.participant;
    $("empty-text").textContent = filtered
      ? "No recording matches these filters."
      : "Recorded calls appear here once they are stored.";
    $("newer").hidden = state.page <= 1;
    $("older").hidden = !body.hasMore;
    $("page").textContent = state.page > 1 || body.hasMore ? "Page " + state.page : "";
  }

  /** One recording as a table row; under 600px wide the stylesheet makes it a card. */
  function row(r) {
    const tr = el("tr", "recording");
    tr.dataset.id = r.id;

    const when = el("td", "when");
    when.dataset.label = "Date";
    when.append(el("time", null, dateTime.format(new Date(r.createTime))));
    when.firstChild.dateTime = r.createTime;

    const call = el("td", "call");
    call.dataset.label = "Call";
    const topic = el("div", "topic", r.topic || "Recorded call");
    // Held recordings say so where the eye lands first; their delete is never offered.
    if (r.legalHold) topic.append(" ", el("span", "badge hold", "Legal hold"));
    call.append(topic);
    const people = participantText(r);
    const sub = [];
    if (people) sub.push(people);
    if (!isUser() && r.personId) sub.push("recorded: " + r.personId);
    if (sub.length) call.append(el("div", "muted participants", sub.join(" · ")));

    const dir = el("td", "direction");
    dir.dataset.label = "Direction";
    const kind = { inbound: "in", outbound: "out" }[r.direction] || "other";
    dir.append(el("span", "pill " + kind, directionText(r.direction)));

    const len = el("td", "duration", duration(r.durationSeconds));
    len.dataset.label = "Duration";
    const bytes = el("td", "size", size(r.sizeBytes));
    bytes.dataset.label = "Size";

    const [expiresText, reason] = expiry(r);
    const exp = el("td", "expiry");
    exp.dataset.label = "Expires";
    exp.append(el("div", "expires", expiresText));
    if (reason) exp.append(el("div", "muted reason", reason));

    const actions = el("td", "actions");
    actions.dataset.label = "";
    const access = r.access || {};
    // Every row has its own Play: a screen reader names which call each one is for.
    const which = (r.topic || "recording") + ", " + dateTime.format(new Date(r.createTime));
    if (access.play) actions.append(button("Play", "play", "Play " + which, () => play(r)));
    if (access.download) {
      actions.append(button("Download", "download", "Download " + which, () => download(r)));
    }
    if (access.delete) {
      actions.append(button("Delete", "delete danger", "Delete " + which, () => confirmDelete(r)));
    }
    if (!access.play && !access.download && !access.delete) {
      actions.append(el("span", "muted locked", "View only"));
    }

    tr.append(when, call, dir, len, bytes, exp, actions);
    return tr;
  }

  function button(text, className, label, onClick) {
    const b = el("button", className, text);
    b.type = "button";
    b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  }

  // ---- Playing and downloading ---------------------------------------------------------

  /**
   * Asks for the recording's details, whose short-lived signed links let the audio element
   * (which cannot send an Authorization header) play it. Without a link, asks the audio route
   * itself so the person reads the server's own reason.
   */
  async function links(id) {
    const details = await api("GET", recordingPath(id));
    const found = details && details.temporaryDirectDownloadLinks;
    if (found) return { details, links: found };
    await api("GET", recordingPath(id) + "/audio?purpose=play", { Range: "bytes=0-0" });
    throw new ApiError(403, "This recording cannot be played.");
  }

  async function play(r) {
    fail("");
    say("Opening " + (r.topic || "the recording") + "…");
    let found;
    try {
      found = await links(r.id);
    } catch (e) {
      say("");
      fail("It cannot be played: " + e.message);
      return;
    }
    const d = found.details;
    $("player").hidden = false;
    $("player-title").textContent = d.topic || "Recording";
    $("player-sub").textContent =
      dateTime.format(new Date(d.createTime)) + " · " + duration(d.durationSeconds);
    const download = $("player-download");
    download.hidden = !(d.access && d.access.download) || !found.links.audioDownloadLink;
    download.href = found.links.audioDownloadLink || "";
    const audio = $("audio");
    audio.src = found.links.audioPlaybackLink;
    audio.dataset.id = d.id;
    try {
      await audio.play();
      say("Playing " + (d.topic || "the recording") + ".");
    } catch (e) {
      say("Ready to play " + (d.topic || "the recording") + ".");
    }
  }

  function stopPlayer() {
    const audio = $("audio");
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
    $("player").hidden = true;
  }

  async function download(r) {
    fail("");
    try {
      const found = await links(r.id);
      const a = el("a");
      a.href = found.links.audioDownloadLink;
      a.download = "";
      document.body.append(a);
      a.click();
      a.remove();
      say("Downloading " + (r.topic || "the recording") + ".");
    } catch (e) {
      fail("It cannot be downloaded: " + e.message);
    }
  }

  // ---- Deleting ------------------------------------------------------------------------

  function confirmDelete(r) {
    state.pending = r;
    $("confirm-text").textContent =
      (r.topic || "This recording") + ", " + dateTime.format(new Date(r.createTime)) + ".";
    $("confirm").returnValue = "";
    $("confirm").showModal();
  }

  async function remove(r) {
    fail("");
    say("Deleting " + (r.topic || "the recording") + "…");
    try {
      await api("DELETE", recordingPath(r.id));
    } catch (e) {
      say("");
      fail("It was not deleted: " + e.message);
      return;
    }
    if ($("audio").dataset.id === r.id) stopPlayer();
    await load();
    say("Deleted " + (r.topic || "the recording") + ".");
  }

  // ---- A link to one recording: #play=ID ------------------------------------------------

  function followHash() {
    const m = /^#play=(.+)$/.exec(location.hash);
    if (!m || !state.who) return;
    const id = decodeURIComponent(m[1]);
    const r = state.items.find((x) => x.id === id) || { id, topic: "" };
    play(r);
  }

  // ---- Wiring --------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const token = $("token").value.trim();
      if (token) signIn(token);
    });
    $("sign-out").addEventListener("click", signOut);
    $("filters").addEventListener("submit", (e) => {
      e.preventDefault();
      state.filters = {
        from: $("from").value,
        to: $("to").value,
        participant: $("participant").value.trim(),
      };
      state.page = 1;
      load();
    });
    $("clear").addEventListener("click", () => {
      $("filters").reset();
      state.filters = { from: "", to: "", participant: "" };
      state.page = 1;
      load();
    });
    $("org").addEventListener("change", (e) => {
      state.org = e.target.value;
      state.page = 1;
      load();
    });
    $("newer").addEventListener("click", () => { state.page -= 1; load(); });
    $("older").addEventListener("click", () => { state.page += 1; load(); });
    $("player-close").addEventListener("click", stopPlayer);
    $("confirm").addEventListener("close", () => {
      const r = state.pending;
      state.pending = null;
      if (r && $("confirm").returnValue === "delete") remove(r);
    });
    window.addEventListener("hashchange", followHash);

    if (state.token) signIn(state.token);
    else showSignIn("");
  });
})();
