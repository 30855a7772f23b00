// Backbeat web UI: sign in, connect Spotify, and watch playback live through the gateway.
//
// Tokens live in sessionStorage (this tab only, gone when it closes) so that the trip to
// Spotify's consent page and back keeps the user signed in. An expired access token is
// renewed once with the refresh token, then the request is repeated.
//
// The live stream: EventSource cannot send an Authorization header, so the page reads
// /api/playback/stream with fetch() and parses the Server-Sent Events itself. The token
// stays in a header (never in a URL, where logs would keep it), reconnects resume with
// Last-Event-ID, and a 401 on reconnect renews the token like any other request.

const SESSION_KEY = "backbeat.session";
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- session and requests

let session = loadSession();
let refreshing = null;

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY)) || null;
  } catch (error) {
    console.warn("discarding an unreadable session", error);
    return null;
  }
}

function saveSession(value) {
  session = value;
  if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(SESSION_KEY);
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.title || `Request failed (${status})`);
    this.status = status;
    this.code = problem.code || "error";
    this.detail = problem.detail || "";
    this.retryAfter = problem.retryAfter;
  }
  get forPeople() {
    if (this.status === 429) return `Slow down: too many requests. Try again in ${this.retryAfter || "a few"} s.`;
    if (this.status === 502 || this.status === 503) return `${this.message}. Retrying shortly.`;
    if (this.status === 504) return `${this.message}. Please try again.`;
    return this.detail ? `${this.message}: ${this.detail}` : this.message;
  }
}

async function problemOf(response) {
  let problem = {};
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      problem = await response.json();
    } catch (error) {
      console.warn("unreadable error body", error);
    }
  }
  problem.retryAfter = response.headers.get("retry-after");
  return new ApiError(response.status, problem);
}

function renewTokens() {
  // One renewal at a time: concurrent 401s all wait for the same one.
  if (!refreshing) {
    refreshing = (async () => {
      const response = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: session.refreshToken }),
      });
      if (!response.ok) throw await problemOf(response);
      const tokens = await response.json();
      saveSession({ ...session, accessToken: tokens.access_token, refreshToken: tokens.refresh_token });
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

// fetch() through the gateway with the user's token; renews it once on 401.
async function call(path, { method = "GET", body, headers = {}, signal, auth = true } = {}) {
  const send = () => {
    const all = { ...headers };
    if (body !== undefined) all["content-type"] = "application/json";
    if (auth && session) all.authorization = `Bearer ${session.accessToken}`;
    return fetch(path, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  };
  let response = await send();
  if (response.status === 401 && auth && session && session.refreshToken) {
    try {
      await renewTokens();
    } catch (error) {
      endSession("Your session has ended. Please sign in again.");
      throw error;
    }
    response = await send();
  }
  if (response.status === 401 && auth) {
    endSession("Your session has ended. Please sign in again.");
  }
  return response;
}

async function json(path, options) {
  const response = await call(path, options);
  if (!response.ok) throw await problemOf(response);
  return response.status === 204 ? null : response.json();
}

// ---------------------------------------------------------------- notices

function notify(text, kind = "info") {
  $("notice-text").textContent = text;
  $("notice").dataset.kind = kind;
  $("notice").hidden = false;
}

function showError(error, where) {
  console.warn(where, error);
  const text = error instanceof ApiError ? error.forPeople : "The server could not be reached.";
  notify(`${where}: ${text}`, "error");
}

// ---------------------------------------------------------------- sign in / sign up

let signingUp = false;

function setAuthMode(signup) {
  signingUp = signup;
  $("tab-signin").setAttribute("aria-selected", String(!signup));
  $("tab-signup").setAttribute("aria-selected", String(signup));
  $("auth-submit").textContent = signup ? "Create account" : "Sign in";
  $("password").autocomplete = signup ? "new-password" : "current-password";
  $("password-hint").hidden = !signup;
  $("auth-error").hidden = true;
}

async function submitAuth(event) {
  event.preventDefault();
  const email = $("email").value.trim();
  const password = $("password").value;
  $("auth-error").hidden = true;
  $("auth-submit").disabled = true;
  try {
    if (signingUp) {
      await json("/api/auth/signup", { method: "POST", body: { email, password }, auth: false });
    }
    const tokens = await json("/api/auth/login", {
      method: "POST",
      body: { email, password },
      auth: false,
    });
    saveSession({ accessToken: tokens.access_token, refreshToken: tokens.refresh_token, email });
    $("password").value = "";
    await enterApp();
  } catch (error) {
    let text = "The server could not be reached.";
    if (error instanceof ApiError) {
      if (error.status === 409) text = "An account with this email already exists. Sign in instead.";
      else if (error.status === 401) text = "Email or password is not right.";
      else if (error.status === 422) text = error.detail || "Check the email and password.";
      else text = error.forPeople;
    }
    $("auth-error").textContent = text;
    $("auth-error").hidden = false;
  } finally {
    $("auth-submit").disabled = false;
  }
}

async function signOut() {
  const current = session;
  if (current) {
    try {
      await call("/api/auth/logout", { method: "POST" });
    } catch (error) {
      console.warn("sign-out request failed; the session is forgotten here anyway", error);
    }
  }
  endSession();
}

function endSession(message) {
  saveSession(null);
  stopLive();
  showAuth();
  if (message) notify(message);
}

// ---------------------------------------------------------------- views

function showAuth() {
  $("app-view").hidden = true;
  $("account").hidden = true;
  $("auth-view").hidden = false;
}

async function enterApp() {
  $("auth-view").hidden = true;
  $("app-view").hidden = false;
  $("account").hidden = false;
  $("account-email").textContent = session.email || "";
  try {
    const me = await json("/api/auth/me");
    if (!session) return;
    saveSession({ ...session, email: me.email });
    $("account-email").textContent = me.email;
  } catch (error) {
    if (!session) return;
    showError(error, "Loading your account");
  }
  await loadConnection();
}

// ---------------------------------------------------------------- Spotify connection

let connection = "unknown";

const CONNECTION_TEXT = {
  connected: ["Connected", "Backbeat sees what you play on Spotify."],
  needs_reauth: ["Needs reconnect", "Spotify stopped accepting Backbeat's access. Reconnect to resume."],
  disconnected: ["Not connected", "Connect your Spotify account to see your playback here."],
  error: ["Unavailable", "The connection could not be checked."],
};

async function loadConnection() {
  try {
    const view = await json("/api/spotify/connection");
    renderConnection(view.status, view.since);
  } catch (error) {
    if (!session) return;
    renderConnection("error");
    showError(error, "Checking the Spotify connection");
  }
}

function renderConnection(status, since) {
  connection = status;
  const [label, detail] = CONNECTION_TEXT[status] || CONNECTION_TEXT.error;
  $("spotify-status").textContent = label;
  $("spotify-status").dataset.state = status;
  $("spotify-detail").textContent =
    status === "connected" && since ? `${detail} Connected since ${new Date(since).toLocaleString()}.` : detail;
  $("spotify-connect").hidden = status === "connected" || status === "error";
  $("spotify-connect").textContent = status === "needs_reauth" ? "Reconnect Spotify" : "Connect Spotify";
  $("spotify-disconnect").hidden = status !== "connected" && status !== "needs_reauth";
  const usable = status === "connected";
  document.querySelectorAll(".player button").forEach((b) => (b.disabled = !usable));
  if (usable) {
    refreshNow();
    refreshHistory();
    refreshStats();
    startLive();
  } else {
    stopLive();
    renderNow(null, status === "needs_reauth" ? "Reconnect Spotify to see your playback." : status === "disconnected" ? "Connect Spotify to see what you play." : "Nothing playing right now.");
  }
}

async function connectSpotify() {
  $("spotify-connect").disabled = true;
  try {
    const started = await json("/api/spotify/connect", { method: "POST" });
    // Spotify's consent page, then back to /api/spotify/callback, then here.
    window.location.assign(started.authorize_url);
  } catch (error) {
    showError(error, "Connecting Spotify");
    $("spotify-connect").disabled = false;
  }
}

async function disconnectSpotify() {
  try {
    await json("/api/spotify/connection", { method: "DELETE" });
    notify("Spotify is disconnected.");
  } catch (error) {
    showError(error, "Disconnecting Spotify");
  }
  await loadConnection();
}

// ---------------------------------------------------------------- now playing

let nowState = null;
let nowReceivedAt = 0;

const clock = (ms) => {
  const total = Math.max(0, Math.floor((ms || 0) / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
};
const artistNames = (track) => (track.artists || []).map((a) => a.name).join(", ");

async function refreshNow() {
  try {
    const state = await json("/api/playback/now");
    renderNow(state);
    $("player-error").hidden = true;
  } catch (error) {
    if (!session) return;
    renderNow(null, "Now playing is unavailable right now.");
    showError(error, "Loading now playing");
  }
}

function renderNow(state, emptyText = "Nothing playing right now.") {
  nowState = state && state.track ? state : null;
  nowReceivedAt = performance.now();
  $("now-track").hidden = !nowState;
  $("now-empty").hidden = !!nowState;
  $("now-empty").textContent = emptyText;
  $("now-card").dataset.playing = String(!!(nowState && nowState.is_playing));
  if (!nowState) return;
  const track = nowState.track;
  $("now-name").textContent = track.name;
  $("now-artists").textContent = artistNames(track);
  $("now-album").textContent = track.album_name || "";
  $("now-initial").textContent = (track.name || "?").slice(0, 1).toUpperCase();
  $("now-device").textContent = nowState.device ? `On ${nowState.device.name}` : "";
  $("now-state").textContent = nowState.is_playing ? "Playing" : "Paused";
  tick();
}

function tick() {
  if (!nowState) return;
  const duration = nowState.track.duration_ms || 0;
  let elapsed = nowState.progress_ms || 0;
  if (nowState.is_playing) elapsed += performance.now() - nowReceivedAt;
  elapsed = Math.min(elapsed, duration);
  $("now-elapsed").textContent = clock(elapsed);
  $("now-duration").textContent = clock(duration);
  $("now-progress-bar").style.width = duration ? `${(100 * elapsed) / duration}%` : "0";
}

async function player(action) {
  $("player-error").hidden = true;
  try {
    await json(`/api/playback/player/${action}`, { method: "POST" });
  } catch (error) {
    $("player-error").textContent = error instanceof ApiError ? error.forPeople : "The server could not be reached.";
    $("player-error").hidden = false;
  }
}

// ---------------------------------------------------------------- history and statistics

let historyCursor = null;

function row(list, main, side, sub) {
  const item = document.createElement("li");
  const text = document.createElement("div");
  const title = document.createElement("span");
  title.className = "row-title";
  title.textContent = main;
  text.append(title);
  if (sub) {
    const under = document.createElement("span");
    under.className = "row-sub";
    under.textContent = sub;
    text.append(under);
  }
  const right = document.createElement("span");
  right.className = "row-side";
  right.textContent = side;
  item.append(text, right);
  list.append(item);
}

async function refreshHistory(more = false) {
  try {
    const cursor = more && historyCursor ? `&cursor=${encodeURIComponent(historyCursor)}` : "";
    const page = await json(`/api/playback/history?limit=20${cursor}`);
    const list = $("history-list");
    if (!more) list.replaceChildren();
    for (const play of page.items || []) {
      const when = play.started_at ? new Date(play.started_at) : null;
      row(list, play.track.name, when ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "", artistNames(play.track));
    }
    historyCursor = page.next_cursor || null;
    $("history-more").hidden = !historyCursor;
    $("history-empty").hidden = list.children.length > 0;
  } catch (error) {
    if (!session) return;
    showError(error, "Loading your history");
  }
}

async function refreshStats() {
  try {
    const from = new Date(Date.now() - 30 * 24 * 3600 * 1000).toISOString();
    const stats = await json(`/api/playback/stats?from=${encodeURIComponent(from)}`);
    $("stats-plays").textContent = String(stats.plays ?? 0);
    const minutes = Math.round((stats.listened_ms || 0) / 60000);
    $("stats-time").textContent = minutes >= 120 ? `${Math.round(minutes / 60)} h` : `${minutes} min`;
    const tracks = $("stats-tracks");
    tracks.replaceChildren();
    for (const top of stats.top_tracks || []) row(tracks, top.track.name, `${top.plays}×`, artistNames(top.track));
    const artists = $("stats-artists");
    artists.replaceChildren();
    for (const top of stats.top_artists || []) row(artists, top.name, `${top.plays}×`);
  } catch (error) {
    if (!session) return;
    showError(error, "Loading your statistics");
  }
}

// ---------------------------------------------------------------- live stream

let live = null;

function setLive(state) {
  $("live").dataset.state = state;
  $("live").title = state === "on" ? "Live updates on" : "Live updates reconnecting";
}

function stopLive() {
  if (live) live.abort();
  live = null;
  setLive("off");
}

function startLive() {
  if (live) return;
  const controller = new AbortController();
  live = controller;
  streamLoop(controller.signal);
}

async function streamLoop(signal) {
  let lastEventId = null;
  let backoff = 1000;
  while (!signal.aborted) {
    try {
      const headers = { accept: "text/event-stream" };
      if (lastEventId) headers["last-event-id"] = lastEventId;
      const response = await call("/api/playback/stream", { headers, signal });
      if (!response.ok) throw await problemOf(response);
      setLive("on");
      backoff = 1000;
      for await (const event of serverSentEvents(response.body, signal)) {
        if (event.id) lastEventId = event.id;
        onLiveEvent(event);
      }
    } catch (error) {
      if (signal.aborted) return;
      console.warn("live stream interrupted", error);
    }
    setLive("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, 15000);
    // What happened while the stream was down.
    if (!signal.aborted) refreshNow();
  }
}

// Parses a text/event-stream body (the WHATWG "server-sent events" format) into events.
async function* serverSentEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener("abort", () => reader.cancel().catch((error) => console.warn("closing the stream", error)), { once: true });
  let buffer = "";
  let event = { type: "message", data: [], id: null };
  while (true) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (event.data.length) yield { type: event.type, id: event.id, data: event.data.join("\n") };
        event = { type: "message", data: [], id: null };
        continue;
      }
      if (line.startsWith(":")) continue; // a comment: the server's heartbeat
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") event.data.push(value);
      else if (field === "event") event.type = value;
      else if (field === "id") event.id = value;
    }
  }
}

let historyTimer = null;

function onLiveEvent(event) {
  let data = null;
  try {
    data = JSON.parse(event.data);
  } catch (error) {
    console.warn("a live event that is not JSON", error);
  }
  // An event carrying the whole now-playing state is shown as is; any other kind of event
  // means "something changed", and the state is read again.
  const state = data && data.data && typeof data.data === "object" ? data.data : data;
  if (state && typeof state === "object" && "track" in state && "is_playing" in state) {
    renderNow(state);
  } else {
    refreshNow();
  }
  // A track that ended may have become a play: history and statistics follow shortly.
  clearTimeout(historyTimer);
  historyTimer = setTimeout(() => {
    refreshHistory();
    refreshStats();
  }, 1500);
}

// ---------------------------------------------------------------- start

// Why the connect flow ended without a connection (the callback's `reason`), for people.
const CONNECT_FAILURES = {
  access_denied: "You did not allow Backbeat on Spotify's page.",
  missing_code: "Spotify sent no authorization back. Please try again.",
  invalid_state: "This connect link was already used or is not valid. Start again with Connect Spotify.",
  expired_state: "The connection took too long. Start again with Connect Spotify.",
  spotify_refused: "Spotify refused the connection. Please try again.",
  account_deleted: "The Backbeat account this link was started for has been deleted.",
  // The flow was started in another browser, perhaps by someone else who sent the link:
  // completing it would have linked this Spotify account to their Backbeat account.
  browser_mismatch:
    "This Spotify link was not started in this browser, so nothing was linked. " +
    "If someone sent it to you, ignore it. To connect your own account, sign in here and choose Connect Spotify.",
};

function readOutcome() {
  const params = new URLSearchParams(window.location.search);
  const outcome = params.get("spotify");
  if (!outcome) return;
  if (outcome === "connected") notify("Spotify is connected.", "success");
  else {
    const reason = params.get("reason") || "unknown reason";
    const why = Object.hasOwn(CONNECT_FAILURES, reason) ? CONNECT_FAILURES[reason] : `(${reason})`;
    notify(`Spotify was not connected. ${why}`, "error");
  }
  window.history.replaceState(null, "", window.location.pathname);
}

function start() {
  $("tab-signin").addEventListener("click", () => setAuthMode(false));
  $("tab-signup").addEventListener("click", () => setAuthMode(true));
  $("auth-form").addEventListener("submit", submitAuth);
  $("sign-out").addEventListener("click", signOut);
  $("notice-close").addEventListener("click", () => ($("notice").hidden = true));
  $("spotify-connect").addEventListener("click", connectSpotify);
  $("spotify-disconnect").addEventListener("click", disconnectSpotify);
  $("history-more").addEventListener("click", () => refreshHistory(true));
  document.querySelectorAll(".player button").forEach((button) =>
    button.addEventListener("click", () => player(button.dataset.action)),
  );
  setInterval(tick, 500);
  readOutcome();
  if (session) enterApp();
  else showAuth();
}

start();
