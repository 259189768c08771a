// couchplay web client: joins the host over a WebSocket (or HTTP long-polling
// when a proxy blocks WebSockets), receives the game as a WebRTC video+audio
// stream and sends the pad state back on the `input` data channel. Plain ES module, no build step; every URL is relative to the page so
// it works under a proxy sub-path such as /games/.

// Message types of the signalling protocol (JSON over /ws or poll/).
const MSG = Object.freeze({
  join: 'join', answer: 'answer', candidate: 'candidate', leave: 'leave',
  welcome: 'welcome', offer: 'offer', roster: 'roster', error: 'error',
  // the game console: library both ways; commands from player 1; game/notice from the host
  library: 'library', play: 'play', stop: 'stop', reset: 'reset',
  saveState: 'save_state', loadState: 'load_state', game: 'game', notice: 'notice',
});

// Error codes after which the session goes on: the host only rejected one message.
const NONFATAL_ERRORS = new Set([
  'bad_json', 'unknown_type', 'bad_message', 'bad_input', 'bad_candidate',
  'not_joined', 'already_joined', 'rate_limited', 'not_allowed', 'game_failed',
]);
// Errors of a game command: shown as they are (the console's own words).
const GAME_ERRORS = new Set(['not_allowed', 'game_failed', 'rate_limited']);
// The host's peer failed or could not use the answer: the page restarts the stream (restartStream).
const WEBRTC_ERROR = 'webrtc';
// Code mode (DESIGN §4): the host wants the room code (code_required), got a
// wrong one (bad_code) or too many (rate_limited with retryAfter); kicked: the
// host removed this page, which must not rejoin by itself.
const CODE_ERRORS = new Set(['code_required', 'bad_code']);
const KICKED = 'kicked';
const ROOM_CODE = /^\d{4}$/;
const STATE_SLOTS = 9;
const GAME_CRASHED = 'crashed';
const SLOTS = 4;

// Binary input messages on the data channel (emu/input.go), little endian:
// buttons only [type, seq u8, buttons u16], or with the sticks [type, seq u8,
// buttons u16, left X, left Y, right X, right Y: int16 each]. Either is the full
// pad state; the short one means centred sticks, so it is sent whenever they are.
const INPUT_MESSAGE = 0x01;
const INPUT_ANALOG_MESSAGE = 0x02;
const INPUT_SIZE = 4;
const INPUT_ANALOG_SIZE = 12;

// Button bits = libretro joypad ids (emu.Buttons).
const BTN = Object.freeze({
  B: 1 << 0, Y: 1 << 1, Select: 1 << 2, Start: 1 << 3,
  Up: 1 << 4, Down: 1 << 5, Left: 1 << 6, Right: 1 << 7,
  A: 1 << 8, X: 1 << 9, L: 1 << 10, R: 1 << 11,
  L2: 1 << 12, R2: 1 << 13, L3: 1 << 14, R3: 1 << 15,
});

// RetroArch default keyboard map, on event.code so it is layout-independent.
const KEYS = Object.freeze({
  ArrowUp: BTN.Up, ArrowDown: BTN.Down, ArrowLeft: BTN.Left, ArrowRight: BTN.Right,
  KeyX: BTN.A, KeyZ: BTN.B, KeyS: BTN.X, KeyA: BTN.Y, KeyQ: BTN.L, KeyW: BTN.R,
  Enter: BTN.Start, ShiftLeft: BTN.Select, ShiftRight: BTN.Select,
});

// Gamepad API "standard" mapping, by position like RetroArch: the bottom face
// button is the SNES B, the right one A, left Y, top X.
const PAD_BUTTONS = [
  [0, BTN.B], [1, BTN.A], [2, BTN.Y], [3, BTN.X], [4, BTN.L], [5, BTN.R],
  [6, BTN.L2], [7, BTN.R2], [8, BTN.Select], [9, BTN.Start], [10, BTN.L3], [11, BTN.R3],
  [12, BTN.Up], [13, BTN.Down], [14, BTN.Left], [15, BTN.Right],
];
const STICK_THRESHOLD = 0.5; // unknown layouts: how far an axis leans to press the d-pad
// Standard mapping: a stick nearer the centre than this (of full travel) is
// centred, so a worn stick does not drift; travel beyond is rescaled to 0..1.
const STICK_DEAD_ZONE = 0.12;
const TOKEN_KEY = 'couchplay.token';
const TOAST_MS = 4000;
const STATS_INTERVAL_MS = 1000;
// The players' colours, P1–P4 (the host's window uses the same): blue, red, green, yellow.
const PLAYER_COLOURS = ['#1e88e5', '#e53935', '#43a047', '#fdd835'];
const PLAYER_INKS = ['#fff', '#fff', '#fff', '#000']; // readable text on each colour
// A short buzz on each press, where the phone can (navigator.vibrate).
const PRESS_VIBRATE_MS = 12;

const $ = (id) => document.getElementById(id);
const video = $('screen');
const body = document.body;

const session = {
  transport: null, // the signalling transport in use (ws or poll)
  welcomed: false, // the host has said welcome
  pc: null,
  channel: null,
  pendingCandidates: [], // remote candidates that arrived before the offer was applied
  leaving: false, // pagehide: closes are expected from here on
  failed: false,
  mode: 'ws', // the transport the page is on: reconnects use it too ('poll' once the WebSocket failed)
  joinedOnce: false, // the host said welcome at least once this page load: a drop is reconnected
  lostAt: 0, // Date.now() when the connection dropped; 0 = not reconnecting
  reconnects: 0, // attempts since the connection dropped
  reconnectTimer: 0,
  rejoins: 0, // stream restarts (ICE failed, host webrtc error) since the stream was last stable
  stableTimer: 0,
  seq: 0,
  sent: '', // the last state sent (inputKey), '' = none yet
  bits: { keys: 0, touch: 0, pad: 0, extra: 0 },
  sticks: [0, 0, 0, 0], // gamepad sticks: left X, left Y, right X, right Y (int16)
};

// ---------- page state ----------

function setState(state) {
  if (body.dataset.state === 'error') return; // an error is final for this page load
  body.dataset.state = state;
}

// fail shows an error and stops; retry: the error offers a Retry button (the
// connection may come back: the host or the network was away, not refusing).
function fail(message, { retry = false } = {}) {
  if (session.leaving || session.failed) return;
  session.failed = true;
  clearTimeout(session.reconnectTimer);
  clearTimeout(session.stableTimer);
  body.dataset.state = 'error';
  $('error-text').textContent = message;
  $('retry').hidden = !retry;
  $('error').hidden = false;
  releaseAll();
  try { session.pc?.close(); } catch { /* already closed */ }
  session.transport?.close();
  session.transport = null;
  console.error('couchplay:', message);
  if (retry) $('retry').focus();
}

// Retry (the error's button): a fresh start, with the same session token, so
// a slot the host still holds comes back.
function retry() {
  if (!session.failed || session.leaving) return;
  session.failed = false;
  $('error').hidden = true;
  $('retry').hidden = true;
  $('retry').blur();
  session.rejoins = 0;
  session.lostAt = 0;
  resetStream();
  body.dataset.state = 'connecting';
  if (session.joinedOnce) {
    reconnect('Reconnecting…');
  } else {
    setStatus('Connecting…');
    connect();
  }
}

let toastTimer = 0;
function toast(message) {
  const el = $('toast');
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, TOAST_MS);
}

function setStatus(text) { $('status').textContent = text; }

// Performance marks of the connection steps, for `make bench` and devtools.
function mark(name) {
  try { performance.mark(`couchplay:${name}`); } catch { /* old browser */ }
}

// ---------- signalling ----------
//
// Two transports carry the same JSON messages (README, Wire protocol): `ws`, the WebSocket,
// and `poll`, HTTP long-polling for when something between the page and the
// host (usually a reverse proxy that drops the Upgrade/Connection headers)
// cannot carry a WebSocket. A transport is {name, joined, opened, send(msg),
// leave(), close()} and reports to the one `sink` below, so every host message
// goes through the same dispatch whichever transport delivered it.

const WS_ABNORMAL_CLOSE = 1006; // no close frame: the connection just went away
const WS_MESSAGE_TOO_BIG = 1009;
const HTTP_UPGRADE_REQUIRED = 426;
const HTTP_FORBIDDEN = 403;
const HTTP_CONFLICT = 409; // a second recv while one is outstanding
const HTTP_GONE = 410; // the poll session ended
const HTTP_TOO_BIG = 413;
const FETCH_TIMEOUT_MS = 10_000;
// The host answers a recv within 25 s; one that a proxy holds longer is dropped and retried.
const POLL_RECV_TIMEOUT_MS = 40_000;
// Backoff between retries of a failed poll request; ~5 s in all, then the transport counts as
// dropped (and the page reconnects, over poll again).
const POLL_RETRY_MS = [100, 200, 400, 800, 1500, 2000];

const PROXY_REASON = 'a proxy between this page and the host dropped the WebSocket Upgrade headers';

// A URL next to the page (so a proxy sub-path such as /games/ is kept), without the page's query.
function pageURL(rel) {
  const u = new URL(rel, location.href);
  u.search = '';
  u.hash = '';
  return u;
}

function hostURL() { return pageURL('.').href; }

function wsURL() {
  const u = pageURL('ws');
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  // The host writes its page key into index.html; sent back on the handshake it
  // shows the socket is this page's even where a proxy rewrote Host (nginx's default).
  const key = document.querySelector('meta[name="couchplay-page-key"]')?.content;
  if (key) u.searchParams.set('k', key);
  return u.href;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// fetch with a time limit (AbortSignal.timeout is too new for some phones).
async function fetchWithin(url, init, ms) {
  const c = new AbortController();
  const timer = setTimeout(() => c.abort(new Error(`${url} timed out`)), ms);
  try {
    return await fetch(url, { ...init, signal: c.signal });
  } finally {
    clearTimeout(timer);
  }
}

function send(msg) {
  session.transport?.send(msg);
}

// The transports' reports. The host's messages are handled one at a time, in
// order: the answer to an offer must be set before the candidates that follow it.
let signalChain = Promise.resolve();
const sink = {
  opened(t) {
    if (t !== session.transport) return;
    mark(`${t.name}-open`);
    setStatus('Joining…');
    if (!t.joined) {
      t.joined = true;
      t.send(window.couchplayJoinMessage());
    }
  },
  message(t, msg) {
    if (t !== session.transport) return;
    signalChain = signalChain.then(() => onSignal(msg))
      .catch((err) => restartStream(`Could not set up the stream: ${err.message || err}.`));
  },
  closed(t, info) {
    if (session.leaving || session.failed || t !== session.transport) return;
    session.transport = null;
    if (info.code === WS_MESSAGE_TOO_BIG) {
      fail('The host closed the connection: a message was too big.');
    } else if (session.joinedOnce || session.lostAt) {
      // The page had its slot (or is getting it back): the host keeps it for
      // the session token, so keep trying, over the transport the page is on.
      reconnect();
    } else if (t.name === 'ws' && (!info.opened || (info.code === WS_ABNORMAL_CLOSE && !session.welcomed))) {
      // Never opened, or cut before the host even said welcome: the WebSocket
      // cannot get through. Try the same thing over plain HTTP.
      fallBack();
    } else {
      fail(`Lost the connection to the couchplay host at ${hostURL()} — is it still running?` +
        (info.reason ? ` (${info.reason})` : ''), { retry: true });
    }
  },
};

function connect() {
  body.dataset.state = 'connecting';
  body.dataset.signal = 'ws';
  session.mode = 'ws';
  const url = wsURL();
  const early = window.couchplayEarly; // opened (and joined) by index.html while this script loaded
  delete window.couchplayEarly;
  let ws = early?.ws;
  if (ws && ws.url === url && ws.readyState > WebSocket.OPEN && !early.joined) {
    // The early socket already failed without ever opening: no point in a second try.
    fallBack();
    return;
  }
  const reuse = ws && ws.url === url && ws.readyState <= WebSocket.OPEN;
  if (!reuse) {
    ws?.close?.();
    try {
      ws = new WebSocket(url);
    } catch (err) {
      console.warn(`couchplay: no WebSocket to ${url}: ${err.message}`);
      fallBack();
      return;
    }
  }
  wsTransport(ws, reuse ? early : null);
}

// The WebSocket transport; early = index.html's socket state ({joined, queue}) when reused.
function wsTransport(ws, early) {
  const t = {
    name: 'ws',
    socket: ws,
    joined: Boolean(early?.joined),
    opened: ws.readyState === WebSocket.OPEN,
    send(msg) { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); },
    leave() {
      t.send({ type: MSG.leave });
      t.close(1000, 'leave');
    },
    close(code, reason) { try { ws.close(code, reason); } catch { /* already closed */ } },
  };
  session.transport = t;
  const onMessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { toast('The host sent a message this page cannot read.'); return; }
    sink.message(t, msg);
  };
  ws.onmessage = onMessage;
  ws.onclose = (ev) => sink.closed(t, { opened: t.opened, code: ev.code, reason: ev.reason });
  ws.onerror = () => { /* onclose follows with the details */ };
  const onOpen = () => { t.opened = true; sink.opened(t); };
  if (ws.readyState === WebSocket.OPEN) onOpen(); else ws.onopen = onOpen;
  for (const ev of early?.queue ?? []) onMessage(ev);
  return t;
}

// Reconnecting (README, Dropped connections): the host keeps a dropped
// player's slot for its session token for RECONNECT_WINDOW_MS (room.ReserveFor),
// so the page keeps trying that long, quickly at first (a Wi-Fi blip or a phone
// waking up is back in well under 2 s), then every RECONNECT_MS's last entry.
// Then it says the host is gone and offers Retry.
const RECONNECT_MS = [100, 250, 500, 1000, 2000];
const RECONNECT_WINDOW_MS = 20_000;
// A WebSocket that has not opened (or been welcomed) by then is given up and tried again.
const CONNECT_TIMEOUT_MS = 5000;
// After this many failed WebSocket attempts the page asks whether the host is
// there over plain HTTP; if so and the next WebSocket fails too, it carries on over poll.
const WS_PROBE_AFTER = 3;

// Tears down the stream and everything tied to one connection to the host.
function resetStream() {
  releaseAll();
  clearTimeout(session.stableTimer);
  try { session.pc?.close(); } catch { /* already closed */ }
  session.pc = null;
  session.channel = null;
  session.offerHasVideo = undefined; // known once the host's offer came
  closeFastChannel();
  session.pendingCandidates = [];
  session.welcomed = false;
  firstFrameWatched = false;
}

// reconnect schedules the next attempt to rejoin after the signalling dropped
// (or an attempt failed): the join carries the session token, so the host hands
// back the same slot, and a fresh offer restarts the stream.
function reconnect(status = 'Connection lost — reconnecting…') {
  if (session.leaving || session.failed) return;
  if (!session.lostAt) {
    session.lostAt = Date.now();
    session.reconnects = 0;
    body.dataset.state = 'connecting';
    setStatus(status);
    resetStream();
  }
  const left = session.lostAt + RECONNECT_WINDOW_MS - Date.now();
  if (left <= 0) {
    session.lostAt = 0;
    fail(`Lost the connection to the couchplay host at ${hostURL()} for ${Math.round(RECONNECT_WINDOW_MS / 1000)} s — ` +
      'is it still running, and is this device still on its network?', { retry: true });
    return;
  }
  const attempt = session.reconnects++;
  const delay = Math.min(RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)], left);
  clearTimeout(session.reconnectTimer);
  session.reconnectTimer = setTimeout(() => attemptReconnect(attempt), delay);
}

async function attemptReconnect(attempt) {
  if (session.leaving || session.failed || session.transport) return;
  // After a few failed WebSocket attempts: is the host there over plain HTTP?
  const probed = session.mode === 'ws' && attempt >= WS_PROBE_AFTER && await hostAnswersHTTP();
  if (session.leaving || session.failed || session.transport) return;
  if (session.mode === 'poll') {
    let t;
    try {
      t = await openPoll(CONNECT_TIMEOUT_MS);
    } catch (err) {
      if (err.status === HTTP_FORBIDDEN) { refusedOrigin(); return; }
      reconnect();
      return;
    }
    if (session.leaving || session.failed || session.transport) { t.leave(); return; }
    session.transport = t;
    t.start();
    return;
  }
  let t;
  let ws;
  try {
    ws = new WebSocket(wsURL());
    t = wsTransport(ws, null);
  } catch {
    reconnect();
    return;
  }
  if (probed) {
    // The host answers HTTP but this WebSocket does not open either: something
    // in between (a proxy) blocks WebSockets now. Carry on over poll.
    ws.addEventListener('close', () => {
      if (t.opened || session.mode !== 'ws') return;
      session.mode = 'poll';
      showPollMode('the WebSocket connection could not be opened again');
    });
  }
  // A connection that hangs (a network that drops packets) counts as a failed attempt.
  setTimeout(() => {
    if (session.transport === t && !session.welcomed) t.close(4000, 'no welcome in time');
  }, CONNECT_TIMEOUT_MS);
}

// Whether the host answers over plain HTTP (a GET of ws without Upgrade headers is its 426).
async function hostAnswersHTTP() {
  try {
    const res = await fetchWithin(pageURL('ws'), { cache: 'no-store' }, CONNECT_TIMEOUT_MS);
    return res.status === HTTP_UPGRADE_REQUIRED;
  } catch {
    return false;
  }
}

// The WebSocket cannot get through: find out why (for the notice), then carry
// on over HTTP long-polling.
async function fallBack() {
  setStatus('Connecting over HTTP…');
  let reason = 'the WebSocket connection could not be opened';
  try {
    // Without Upgrade headers the host answers 426 with the proxy fix in the
    // body; through a proxy that drops them, the browser's WebSocket got the same.
    const res = await fetchWithin(pageURL('ws'), { cache: 'no-store' }, FETCH_TIMEOUT_MS);
    if (res.status === HTTP_UPGRADE_REQUIRED) {
      reason = PROXY_REASON;
      console.warn(`couchplay: GET ws answered 426:\n${await res.text()}`);
    }
  } catch { /* poll/open below tells whether the host is there */ }
  if (session.leaving || session.failed) return;
  let t;
  try {
    t = await openPoll();
  } catch (err) {
    if (err.status === HTTP_FORBIDDEN) {
      refusedOrigin();
    } else {
      fail(`Cannot reach the couchplay host at ${hostURL()} — is it still running? (${err.message})`, { retry: true });
    }
    return;
  }
  if (session.leaving || session.failed) { t.leave(); return; }
  session.mode = 'poll'; // reconnects stay on poll: the WebSocket did not get through
  showPollMode(reason);
  session.transport = t;
  t.start();
}

function showPollMode(reason) {
  body.dataset.signal = 'poll';
  showSignalNotice(`Signalling over HTTP long-polling: ${reason}. ` +
    'Ask the admin to forward the Upgrade/Connection headers (see the host log).');
}

function refusedOrigin() {
  fail(`The host refused this page's origin (${location.origin}): a proxy in between changes the Host header. ` +
    'Forward it (nginx: proxy_set_header Host $http_host; apache: ProxyPreserveHost On) ' +
    `or start couchplay with --trusted-origins ${location.host}.`);
}

function showSignalNotice(text) {
  const el = $('signal-notice');
  el.textContent = text;
  el.hidden = false;
}

function httpError(what, res) {
  const err = new Error(`${what} answered HTTP ${res.status}`);
  err.status = res.status;
  return err;
}

async function openPoll(timeoutMs = FETCH_TIMEOUT_MS) {
  let res;
  try {
    res = await fetchWithin(pageURL('poll/open'), { method: 'POST', cache: 'no-store' }, timeoutMs);
  } catch (err) {
    throw new Error(`the WebSocket failed and so did poll/open: ${err.message}`);
  }
  if (!res.ok) {
    const err = httpError('the WebSocket failed and poll/open', res);
    // A refusal (429: too many connections from this address) says why in its text.
    if (res.status === 429) { try { err.message += `: ${(await res.text()).trim()}`; } catch { /* keep the status */ } }
    throw err;
  }
  let id;
  try { id = (await res.json()).session; } catch { /* below */ }
  if (!id) throw new Error('poll/open answered without a session id');
  return pollTransport(id);
}

// The long-poll transport (README, Wire protocol): one outstanding GET recv, re-issued as
// soon as it answers; sends are POSTs, one at a time so they arrive in order.
// recv carries ack (the last message seq handled), so the host sends again what a
// dropped answer lost; each send carries its seq, so the host applies a retried one once.
function pollTransport(id) {
  let acked = 0;
  let sendSeq = 0;
  const url = (what, params = {}) => {
    const u = pageURL(`poll/${what}`);
    u.searchParams.set('session', id);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
    return u.href;
  };
  const inflight = new Set(); // AbortControllers of the requests under way, aborted on close
  let closed = false;
  let sending = Promise.resolve();

  const t = {
    name: 'poll',
    joined: false,
    opened: true,
    start() {
      sink.opened(t); // sends the join
      recvLoop();
    },
    send(msg) {
      if (closed) return;
      const text = JSON.stringify(msg);
      sending = sending.then(() => postMessage(text));
    },
    leave() {
      if (closed) return;
      // Delivered even while the page unloads; text/plain is what the host takes from a beacon.
      navigator.sendBeacon(url('send'), JSON.stringify({ type: MSG.leave }));
      shut();
    },
    close() { t.leave(); },
  };

  function shut() {
    closed = true;
    for (const c of inflight) c.abort();
  }

  function end(info) {
    if (closed) return;
    shut();
    sink.closed(t, { opened: true, ...info });
  }

  // Network errors, timeouts, 5xx from a proxy and 409 (an abandoned recv
  // still held) are retried with a short backoff; anything else is the host's answer.
  async function request(what, init, timeoutMs, params) {
    for (let attempt = 0; ; attempt++) {
      let res = null;
      let error = null;
      const c = new AbortController();
      const timer = setTimeout(() => c.abort(new Error(`poll/${what} timed out`)), timeoutMs);
      inflight.add(c);
      try {
        res = await fetch(url(what, params), { ...init, cache: 'no-store', signal: c.signal });
      } catch (err) {
        if (closed) throw err;
        error = err;
      } finally {
        clearTimeout(timer);
        inflight.delete(c);
      }
      if (res && res.status < 500 && res.status !== HTTP_CONFLICT) return res;
      if (attempt >= POLL_RETRY_MS.length) throw error ?? httpError(`poll/${what}`, res);
      await sleep(POLL_RETRY_MS[attempt]);
      if (closed) throw new Error('closed');
    }
  }

  async function goneReason(res) {
    try { return (await res.json()).message || 'the host ended the session'; } catch { return 'the host ended the session'; }
  }

  async function recvLoop() {
    while (!closed) {
      let res;
      let msgs;
      try {
        res = await request('recv', {}, POLL_RECV_TIMEOUT_MS, { ack: acked });
        if (res.status === HTTP_GONE) { end({ reason: await goneReason(res) }); return; }
        if (!res.ok) { end({ reason: `poll/recv answered HTTP ${res.status}` }); return; }
        msgs = await res.json();
      } catch (err) {
        end({ reason: err.message });
        return;
      }
      if (!Array.isArray(msgs)) { toast('The host sent a message this page cannot read.'); continue; }
      for (const msg of msgs) {
        if (typeof msg?.seq === 'number') {
          if (msg.seq <= acked) continue; // sent again after a dropped answer: handled already
          acked = msg.seq;
        }
        sink.message(t, msg);
      }
    }
  }

  async function postMessage(text) {
    if (closed) return;
    let res;
    try {
      res = await request('send', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: text }, FETCH_TIMEOUT_MS, { seq: ++sendSeq });
    } catch (err) {
      end({ reason: err.message });
      return;
    }
    if (res.status === HTTP_GONE) {
      end({ reason: await goneReason(res) });
    } else if (res.status === HTTP_TOO_BIG) {
      t.leave(); // the WebSocket would close with 1009: same outcome
      sink.closed(t, { opened: true, code: WS_MESSAGE_TOO_BIG });
    } else if (!res.ok) {
      console.warn(`couchplay: poll/send answered HTTP ${res.status}`);
    }
  }

  return t;
}

async function onSignal(msg) {
  switch (msg.type) {
    case MSG.welcome: return onWelcome(msg);
    case MSG.offer: return onOffer(msg);
    case MSG.candidate: return onRemoteCandidate(msg.candidate);
    case MSG.roster: return onRoster(msg);
    case MSG.error: return onError(msg);
    case MSG.game: return showGame(msg.game);
    case MSG.library: return showLibrary(msg.games);
    case MSG.notice: return toast(msg.message || '');
    default: console.warn('couchplay: unknown message', msg.type);
  }
}

function onWelcome(msg) {
  mark('welcome');
  clearInterval(codeTimer);
  $('code-prompt').hidden = true;
  session.welcomed = true;
  session.joinedOnce = true;
  session.lostAt = 0;
  session.reconnects = 0;
  clearTimeout(session.reconnectTimer);
  const spectator = msg.role === 'spectator' || !msg.slot;
  body.dataset.slot = spectator ? 'watch' : String(msg.slot);
  body.dataset.role = spectator ? 'spectator' : 'player';
  if (msg.token) {
    try { sessionStorage.setItem(TOKEN_KEY, msg.token); } catch { /* storage disabled */ }
  }
  const notice = $('notice');
  // A rejoin to watch keeps the host's word on why (rejoinToWatch).
  const text = msg.notice || session.carriedNotice;
  session.carriedNotice = '';
  if (text) {
    notice.textContent = text;
    notice.hidden = false;
  } else {
    notice.hidden = true;
  }
  if (spectator && session.offerHasVideo === false) {
    // The host moved this controller-mode player to the spectators: its
    // stream has no picture, so it rejoins to watch (a stream with video).
    session.carriedNotice = text;
    rejoinToWatch();
    return;
  }
  showGame(msg.game);
  applyView();
  $('games-button').hidden = body.dataset.slot !== '1';
  showRestart();
  if (body.dataset.slot !== '1') closeGames();
  setStatus(spectator ? 'Watching — starting the stream…' : `Player ${msg.slot} — starting the stream…`);
}

// ---------- view: the game's picture, or controller mode ----------
//
// Controller mode (?pad, or the Controller mode button) turns a phone into a
// pad: the whole screen is the pad and the join asks for no video
// (index.html's join message: controller), so the phone decodes none; the
// sound still plays. A spectator has no pad: it gets the picture and a line
// saying why. Switching rejoins with the session token, which keeps the slot.

const view = {
  padAsked: new URLSearchParams(location.search).has('pad'),
  watchAsked: new URLSearchParams(location.search).has('watch'),
  fullscreenTried: false, // the first touch on the pad asks for full screen, once
  wakeLock: null, // the screen wake lock held in controller mode
  wakeLockPending: false,
};

function padMode() {
  return view.padAsked && !view.watchAsked && body.dataset.role !== 'spectator';
}

function applyView() {
  const pad = padMode();
  body.dataset.mode = pad ? 'pad' : 'video';
  const touchpad = $('touchpad');
  touchpad.setAttribute('aria-hidden', String(!pad)); // in controller mode its bar has buttons
  showTouchpad();
  const slot = Number(body.dataset.slot);
  const badge = $('pad-badge');
  if (slot >= 1 && slot <= SLOTS) {
    badge.textContent = `P${slot}`;
    badge.setAttribute('aria-label', `player ${slot}`);
    badge.style.setProperty('--player-colour', PLAYER_COLOURS[slot - 1]);
    badge.style.setProperty('--player-ink', PLAYER_INKS[slot - 1]);
  } else {
    badge.textContent = '';
  }
  $('pad-fullscreen').hidden = !pad || !fullscreenAvailable();
  $('controller-button').hidden = pad || body.dataset.role !== 'player' || !matchMedia('(any-pointer: coarse)').matches;
  const watching = $('pad-watch');
  if (view.padAsked && body.dataset.role === 'spectator') {
    // The host's notice (if any) says why this page got no player slot.
    watching.textContent = view.watchAsked
      ? 'You joined to watch, so there is no controller: spectators see the game instead.'
      : 'You are watching (no player slot for you), so there is no controller: spectators see the game instead.';
    watching.hidden = false;
  } else {
    watching.hidden = true;
  }
  if (pad) keepAwake(); else releaseWakeLock();
}

// switchView goes to controller mode (pad) or back to the picture. The URL
// follows (a reload stays in the mode); the stream restarts with the session
// token, so the host gives this page its slot back, with or without video.
function switchView(pad) {
  if (pad === view.padAsked) return;
  view.padAsked = pad;
  setFlag('pad', pad);
  applyView();
  rejoinForView(pad ? 'Switching to controller mode…' : 'Switching to the game\'s picture…');
}

// rejoinToWatch: a controller-mode page the host made a spectator rejoins
// with ?watch (so the host keeps it a spectator) and gets the picture.
function rejoinToWatch() {
  view.padAsked = false;
  view.watchAsked = true;
  setFlag('pad', false);
  setFlag('watch', true);
  applyView();
  rejoinForView('Moved to the spectators — starting the picture…');
}

// setFlag puts a valueless query flag (?pad, ?watch) in the URL or takes it
// out, so a reload stays as it is now.
function setFlag(name, on) {
  const params = new URLSearchParams(location.search);
  if (on) params.set(name, ''); else params.delete(name);
  const query = params.toString().replace(new RegExp(`(^|&)${name}=(?=&|$)`), `$1${name}`);
  history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
}

// rejoinForView rejoins on a new transport with the session token; the
// next join reads the URL (watch, pad).
function rejoinForView(status) {
  if (session.failed || session.leaving || !session.joinedOnce) return;
  const old = session.transport;
  session.transport = null; // its late messages and close are ignored
  if (old?.name === 'ws') old.close(4003, 'switching the view');
  reconnect(status);
}

function fullscreenAvailable() {
  const el = document.documentElement;
  return Boolean((document.fullscreenEnabled || document.webkitFullscreenEnabled) &&
    (el.requestFullscreen || el.webkitRequestFullscreen));
}

function enterFullscreen() {
  if (!fullscreenAvailable() || document.fullscreenElement || document.webkitFullscreenElement) return;
  const el = document.documentElement;
  try {
    const p = el.requestFullscreen ? el.requestFullscreen({ navigationUI: 'hide' }) : el.webkitRequestFullscreen();
    p?.catch?.(() => { /* refused (no user gesture, or the browser says no): the pad works anyway */ });
  } catch { /* same */ }
}

function toggleFullscreen() {
  if (document.fullscreenElement || document.webkitFullscreenElement) {
    (document.exitFullscreen || document.webkitExitFullscreen)?.call(document)?.catch?.(() => {});
  } else {
    enterFullscreen();
  }
}

// The screen stays on while the phone is a pad (a Wake Lock needs a secure
// context: over plain http on a LAN address there is none, and the phone may dim).
async function keepAwake() {
  if (!padMode() || document.hidden || view.wakeLock || view.wakeLockPending || !navigator.wakeLock) return;
  view.wakeLockPending = true;
  try {
    const lock = await navigator.wakeLock.request('screen');
    lock.addEventListener('release', () => { if (view.wakeLock === lock) view.wakeLock = null; });
    view.wakeLock = lock;
    if (!padMode()) releaseWakeLock();
  } catch { /* refused (power saving, no user gesture yet): a later touch tries again */ } finally {
    view.wakeLockPending = false;
  }
}

function releaseWakeLock() {
  const lock = view.wakeLock;
  view.wakeLock = null;
  lock?.release().catch(() => {});
}

// A lock is dropped whenever the page is hidden: it is asked for again on return.
document.addEventListener('visibilitychange', () => { if (!document.hidden) keepAwake(); });

// The sound starts on the first touch of the pad where autoplay with sound was
// refused (iOS plays nothing until a touch; the picture-less page has no "Tap for sound").
function unlockAudio() {
  if (sound.path === AUDIO_PATH.fast) {
    if (sound.ctx && sound.ctx.state !== 'running') unmute();
    return;
  }
  if (!video.srcObject || (!video.muted && !video.paused)) return;
  unmute();
}

function setupView() {
  $('controller-button').addEventListener('click', (ev) => { ev.currentTarget.blur(); switchView(true); });
  $('pad-video').addEventListener('click', (ev) => { ev.currentTarget.blur(); switchView(false); });
  $('pad-fullscreen').addEventListener('click', (ev) => { ev.currentTarget.blur(); toggleFullscreen(); });
  // The bar's buttons are buttons, not pad controls: their touches are not pad presses.
  $('padbar').addEventListener('pointerdown', (ev) => ev.stopPropagation());
  matchMedia('(any-pointer: coarse)').addEventListener?.('change', applyView);
  applyView();
}

function onRoster(msg) {
  session.roster = { players: msg.players || [], spectators: msg.spectators || 0 };
}

function onError(msg) {
  const text = msg.message || msg.code || 'unknown error';
  if (CODE_ERRORS.has(msg.code) || (msg.code === 'rate_limited' && msg.retryAfter)) {
    askCode(msg);
    return;
  }
  if (msg.code === KICKED) {
    // A kicked page does not come back by itself: its token is dropped and the error has no Retry.
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* storage disabled */ }
    fail(text);
    return;
  }
  if (GAME_ERRORS.has(msg.code)) {
    games.pending = null;
    setGamesBusy(false);
    $('crash-restart').disabled = false;
    toast(text);
    return;
  }
  if (NONFATAL_ERRORS.has(msg.code)) {
    toast(`Host: ${text}`);
    return;
  }
  if (msg.code === WEBRTC_ERROR) {
    // The host could not start or keep the stream (its peer failed, or it could not use the answer).
    restartStream(`The host could not keep the video connection: ${text}.`);
    return;
  }
  fail(`The host refused: ${text}`);
}

// ---------- room code ----------

let codeTimer = 0;

// askCode shows the room code prompt (state "code"). The connection that was
// refused is closed; the code opens a fresh one (the host closes sockets that
// do not join in time, and typing takes a while).
function askCode(msg) {
  if (session.leaving || session.failed) return;
  clearTimeout(session.reconnectTimer);
  session.lostAt = 0;
  const t = session.transport;
  session.transport = null; // its close is expected
  t?.close(1000, 'room code needed');
  resetStream();
  body.dataset.state = 'code';
  setStatus('Waiting for the room code…');
  const input = $('code-input');
  const error = $('code-error');
  clearInterval(codeTimer);
  input.disabled = false;
  $('code-submit').disabled = false;
  $('code-prompt').hidden = false;
  if (msg.code === 'bad_code') {
    error.textContent = window.couchplayCode
      ? 'Wrong code — check the 4 digits on the host\'s screen and try again.'
      : 'This link\'s join key is not the host\'s (the host restarted?): type the room code.';
    input.value = '';
  } else if (msg.code === 'rate_limited') {
    let left = Math.max(1, Math.ceil(Number(msg.retryAfter) || 1));
    input.disabled = true;
    $('code-submit').disabled = true;
    const tick = () => {
      if (left <= 0) {
        clearInterval(codeTimer);
        input.disabled = false;
        $('code-submit').disabled = false;
        error.textContent = 'You can try again now.';
        input.focus();
        return;
      }
      error.textContent = `Too many wrong codes — wait ${left} s, then try again.`;
      left--;
    };
    tick();
    codeTimer = setInterval(tick, 1000);
  } else {
    error.textContent = '';
  }
  if (!input.disabled) input.focus();
}

function submitCode(ev) {
  ev.preventDefault();
  const input = $('code-input');
  const code = input.value.trim();
  if (!ROOM_CODE.test(code)) {
    $('code-error').textContent = 'The room code is 4 digits.';
    input.focus();
    return;
  }
  window.couchplayCode = code; // index.html's join message carries it, reconnects too
  $('code-error').textContent = 'Checking…';
  input.disabled = true;
  $('code-submit').disabled = true;
  body.dataset.state = 'connecting';
  setStatus('Checking the code…');
  openTransport();
}

// openTransport opens a fresh signalling connection on the transport the page is on.
function openTransport() {
  if (session.mode === 'poll') {
    openPoll().then((t) => {
      if (session.leaving || session.failed || session.transport) { t.leave(); return; }
      session.transport = t;
      t.start();
    }, (err) => fail(`Cannot reach the couchplay host at ${hostURL()} — is it still running? (${err.message})`, { retry: true }));
    return;
  }
  let ws;
  try {
    ws = new WebSocket(wsURL());
  } catch {
    fallBack();
    return;
  }
  wsTransport(ws, null);
}

function setupCodePrompt() {
  $('code-prompt').addEventListener('submit', submitCode);
  // Digits only (a phone's numeric keyboard may still offer others).
  $('code-input').addEventListener('input', (ev) => {
    const el = ev.target;
    const digits = el.value.replace(/\D/g, '').slice(0, 4);
    if (digits !== el.value) el.value = digits;
  });
}

// ---------- WebRTC ----------

// A failed stream is restarted by rejoining (a fresh offer), up to MAX_REJOINS
// times in a row; a stream connected for STREAM_STABLE_MS counts as healthy again.
const MAX_REJOINS = 3;
const STREAM_STABLE_MS = 10_000;
const ICE_DISCONNECTED_MS = 10_000;

// restartStream rejoins with the session token after the stream failed: the
// host gives the same slot back with a new offer. The signalling connection is
// dropped without a leave, so the host holds the slot meanwhile.
function restartStream(reason) {
  if (session.leaving || session.failed) return;
  if (session.lostAt) return; // already reconnecting, which brings a fresh stream
  if (session.rejoins >= MAX_REJOINS) {
    fail(`${reason} Restarting the stream did not help (${MAX_REJOINS} tries).`, { retry: true });
    return;
  }
  session.rejoins++;
  console.warn(`couchplay: ${reason} Rejoining (${session.rejoins}/${MAX_REJOINS}).`);
  const old = session.transport;
  session.transport = null; // its late messages and close are ignored
  // A WebSocket closes without leave; a poll session is replaced by the host
  // when the rejoin with this page's token arrives.
  if (old?.name === 'ws') old.close(4001, 'restarting the stream');
  reconnect('Restarting the stream…');
}

function newPeer() {
  // LAN only: host candidates are enough, no STUN/TURN.
  const pc = new RTCPeerConnection({ iceServers: [] });
  // One stream for the element holds video and audio, whatever streams (or
  // none) the host put them in; the element follows tracks added later.
  const remote = new MediaStream();
  pc.ontrack = (ev) => {
    const r = ev.receiver;
    // Play out as soon as possible: this is a game, not a film.
    try { r.jitterBufferTarget = 0; } catch { /* not supported */ }
    if ('playoutDelayHint' in r) { try { r.playoutDelayHint = 0; } catch { /* not supported */ } }
    remote.addTrack(ev.track);
    mark(`track-${ev.track.kind}`);
    if (video.srcObject !== remote) attach(remote);
  };
  pc.onicecandidate = (ev) => {
    send({ type: MSG.candidate, candidate: ev.candidate ? ev.candidate.toJSON() : null });
  };
  let disconnectedTimer = 0;
  pc.oniceconnectionstatechange = () => {
    if (pc !== session.pc) return;
    clearTimeout(disconnectedTimer);
    const state = pc.iceConnectionState;
    if (state === 'failed') {
      restartStream('The video connection failed (ICE failed): the host cannot be reached directly on this network.');
    } else if (state === 'disconnected') {
      // Usually back within seconds; one that stays away is as good as failed.
      disconnectedTimer = setTimeout(() => {
        if (pc === session.pc && pc.iceConnectionState === 'disconnected') {
          restartStream('The video connection was lost (ICE disconnected).');
        }
      }, ICE_DISCONNECTED_MS);
    }
  };
  pc.onconnectionstatechange = () => {
    if (pc !== session.pc) return;
    if (pc.connectionState === 'connected') {
      mark('connected');
      // Connected and still so a while later: restarts are counted afresh.
      clearTimeout(session.stableTimer);
      session.stableTimer = setTimeout(() => { if (pc === session.pc) session.rejoins = 0; }, STREAM_STABLE_MS);
    }
    if (pc.connectionState === 'failed') restartStream('The video connection to the host failed.');
  };
  pc.ondatachannel = (ev) => {
    if (ev.channel.label === AUDIO_LABEL) { openFastChannel(ev.channel); return; }
    if (ev.channel.label !== 'input') return;
    const ch = ev.channel;
    ch.binaryType = 'arraybuffer';
    session.channel = ch;
    ch.onopen = () => {
      session.sent = ''; // none yet on this channel: send the state now
      flushInput();
      // Controller mode has no picture to wait for: the pad drives the game from here on.
      if (padMode()) {
        mark('pad-ready');
        setState('playing');
        setStatus('');
      }
    };
    ch.onclose = () => { if (session.channel === ch) session.channel = null; };
  };
  return pc;
}

async function onOffer(msg) {
  if (!session.pc) {
    session.pc = newPeer();
    exposeForTests();
  }
  const pc = session.pc;
  mark('offer');
  session.offerHasVideo = /^m=video /m.test(msg.sdp);
  await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
  for (const c of session.pendingCandidates.splice(0)) await addCandidate(c);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  send({ type: MSG.answer, sdp: pc.localDescription.sdp });
  mark('answer-sent');
}

async function addCandidate(c) {
  try {
    await session.pc.addIceCandidate(c ?? null);
  } catch (err) {
    console.warn('couchplay: bad remote candidate', c, err);
  }
}

async function onRemoteCandidate(c) {
  if (!session.pc || !session.pc.remoteDescription) {
    session.pendingCandidates.push(c);
    return;
  }
  await addCandidate(c);
}

// ---------- media element ----------

function attach(stream) {
  video.srcObject = stream;
  playVideo();
  watchFirstFrame();
}

// Plays the element: with its (RTP) sound, or muted while the sound comes
// over the data channel (sound.path) so the tone is not heard twice.
function playVideo() {
  if (sound.path === AUDIO_PATH.fast) {
    video.muted = true;
    video.play().catch((err) => console.warn('couchplay: muted play refused', err));
    return;
  }
  video.muted = false;
  const p = video.play();
  if (p) {
    p.catch((err) => {
      if (err.name !== 'NotAllowedError') return; // e.g. AbortError: a newer play() took over
      // Autoplay with sound was refused: play muted and offer a tap to unmute.
      video.muted = true;
      video.play().catch((err) => console.warn('couchplay: muted play refused', err));
      $('unmute').hidden = false;
    });
  }
}

let firstFrameWatched = false;
function watchFirstFrame() {
  if (firstFrameWatched) return;
  firstFrameWatched = true;
  const presented = () => {
    mark('first-frame');
    setState('playing');
    setStatus('');
  };
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    video.requestVideoFrameCallback(presented);
  } else {
    video.addEventListener('playing', presented, { once: true });
  }
}

function unmute() {
  $('unmute').hidden = true;
  if (sound.path === AUDIO_PATH.fast) {
    // iOS/Safari: a context resumes only inside the gesture's handler.
    sound.ctx?.resume().catch(() => {});
    video.play().catch(() => {});
    return;
  }
  video.muted = false;
  video.play().catch(() => {});
}
$('retry').addEventListener('click', retry);
$('unmute').addEventListener('click', unmute);
$('unmute').addEventListener('touchend', (ev) => { ev.preventDefault(); unmute(); });

// ---------- input ----------

function currentBits() {
  const b = session.bits;
  return (b.keys | b.touch | b.pad | b.extra) & 0xffff;
}

// inputKey names a pad state, to tell whether it changed since it was sent.
const inputKey = (bits, sticks) => `${bits} ${sticks.join(' ')}`;
const sticksCentred = (sticks) => sticks.every((v) => v === 0);

// The data channel is unordered with no retransmits (a retransmit after a
// loss would come a round trip late), so a lost message is repaired by a copy:
// each change goes out at once and again INPUT_COPIES_MS later, the copies
// with the same sequence number (the host drops one it already has). On a
// Wi-Fi losing 5 % of packets a press then reaches the host a few ms late at
// worst, not a resend period later. While any button is held or a stick is
// off centre, the full state also goes out every INPUT_REPEAT_MS (a fresh
// number); after everything is released the empty state goes out again at
// RELEASE_REPEAT_MS, then nothing until the next change.
const INPUT_COPIES_MS = [4, 10, 20];
const INPUT_REPEAT_MS = 100;
const RELEASE_REPEAT_MS = [50, 100, 200];
let inputTimer = 0;
let releaseRepeats = 0; // empty-state repeats sent since the release
let copyTimers = []; // the pending copies of the last change
const inputStats = { changes: 0, copies: 0, repeats: 0 };

// Sends the full pad state when it changed (or when forced after the channel opened).
function flushInput() {
  const bits = currentBits(), sticks = session.sticks;
  if (inputKey(bits, sticks) === session.sent) return;
  const msg = sendInput(bits, sticks);
  if (!msg) return;
  inputStats.changes++;
  sendCopies(msg);
  clearTimeout(inputTimer);
  releaseRepeats = 0;
  inputTimer = setTimeout(repeatInput, bits || !sticksCentred(sticks) ? INPUT_REPEAT_MS : RELEASE_REPEAT_MS[0]);
}

// sendCopies sends msg again at INPUT_COPIES_MS, unless the state changed meanwhile.
function sendCopies(msg) {
  for (const t of copyTimers) clearTimeout(t);
  const ch = session.channel, key = session.sent;
  copyTimers = INPUT_COPIES_MS.map((ms) => setTimeout(() => {
    if (session.channel !== ch || session.sent !== key || ch.readyState !== 'open') return;
    try { ch.send(msg); inputStats.copies++; } catch { /* closed: its next open sends the state */ }
  }, ms));
}

function repeatInput() {
  inputTimer = 0;
  const bits = currentBits(), sticks = session.sticks;
  if (inputKey(bits, sticks) !== session.sent) { flushInput(); return; }
  if (!sendInput(bits, sticks)) return; // the channel closed: its next open sends the state
  inputStats.repeats++;
  if (bits || !sticksCentred(sticks)) {
    inputTimer = setTimeout(repeatInput, INPUT_REPEAT_MS);
  } else if (++releaseRepeats < RELEASE_REPEAT_MS.length) {
    inputTimer = setTimeout(repeatInput, RELEASE_REPEAT_MS[releaseRepeats] - RELEASE_REPEAT_MS[releaseRepeats - 1]);
  }
}

// One input message (a fresh sequence number, the full state); returns the
// message sent, or null if it could not go out.
function sendInput(bits, sticks) {
  const ch = session.channel;
  if (!ch || ch.readyState !== 'open') return null;
  session.seq = (session.seq + 1) & 0xff;
  const analog = !sticksCentred(sticks);
  const view = new DataView(new ArrayBuffer(analog ? INPUT_ANALOG_SIZE : INPUT_SIZE));
  view.setUint8(0, analog ? INPUT_ANALOG_MESSAGE : INPUT_MESSAGE);
  view.setUint8(1, session.seq);
  view.setUint16(2, bits, true);
  if (analog) sticks.forEach((v, i) => view.setInt16(4 + 2 * i, v, true));
  const msg = new Uint8Array(view.buffer);
  try {
    ch.send(msg);
    session.sent = inputKey(bits, sticks);
    return msg;
  } catch (err) {
    console.warn('couchplay: input not sent', err);
    return null;
  }
}

function releaseAll() {
  session.bits.keys = 0;
  session.bits.touch = 0;
  session.bits.extra = 0;
  touchPointers.clear();
  for (const el of document.querySelectorAll('.tbtn.pressed')) el.classList.remove('pressed');
  flushInput();
}

window.addEventListener('keydown', (ev) => {
  if (ev.code === 'F3') { ev.preventDefault(); toggleStats(); return; }
  if (ev.code === 'F2') {
    ev.preventDefault();
    if (!ev.repeat) toggleGames();
    return;
  }
  if (!$('code-prompt').hidden) return; // the room code prompt has the keyboard (Enter submits it)
  if (gamesOpen()) {
    // The panel has the keyboard: nothing reaches the game.
    if (ev.code === 'Escape') { ev.preventDefault(); closeGames(); }
    return;
  }
  const bit = KEYS[ev.code];
  if (!bit || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  ev.preventDefault();
  if (ev.repeat) return;
  session.bits.keys |= bit;
  flushInput();
});
window.addEventListener('keyup', (ev) => {
  const bit = KEYS[ev.code];
  if (!bit || (!(session.bits.keys & bit) && !$('code-prompt').hidden)) return;
  ev.preventDefault();
  session.bits.keys &= ~bit;
  flushInput();
});
window.addEventListener('blur', releaseAll);
document.addEventListener('visibilitychange', () => { if (document.hidden) releaseAll(); });

// Gamepads are polled once per animation frame; only a change is sent.
// stick turns a standard-mapping stick (x, y in -1..1) into libretro's int16
// range with a radial dead zone: the direction is kept, only the distance is
// rescaled, so a diagonal is not snapped to an axis.
function stick(x = 0, y = 0) {
  const d = Math.hypot(x, y);
  if (!(d > STICK_DEAD_ZONE)) return [0, 0]; // also NaN
  const scale = Math.min(1, (d - STICK_DEAD_ZONE) / (1 - STICK_DEAD_ZONE)) / d;
  const int16 = (v) => Math.max(-32768, Math.min(32767, Math.round(v * scale * 32767)));
  return [int16(x), int16(y)];
}

function pollGamepads() {
  let bits = 0;
  let sticks = [0, 0, 0, 0];
  const pads = navigator.getGamepads ? navigator.getGamepads() : [];
  for (const gp of pads) {
    if (!gp || !gp.connected) continue;
    if (gp.mapping === 'standard') {
      for (const [i, bit] of PAD_BUTTONS) if (gp.buttons[i]?.pressed) bits |= bit;
      // Real sticks: the host gives them to cores that read sticks and folds the
      // left one into the d-pad for the others (so it is not pressed twice).
      const [lx, ly] = stick(gp.axes[0], gp.axes[1]);
      const [rx, ry] = stick(gp.axes[2], gp.axes[3]);
      // Several pads: each stick of the one leaning furthest.
      if (Math.hypot(lx, ly) > Math.hypot(sticks[0], sticks[1])) [sticks[0], sticks[1]] = [lx, ly];
      if (Math.hypot(rx, ry) > Math.hypot(sticks[2], sticks[3])) [sticks[2], sticks[3]] = [rx, ry];
    } else {
      // Unknown layout: at least the first buttons and the d-pad as axes work.
      if (gp.buttons[0]?.pressed) bits |= BTN.B;
      if (gp.buttons[1]?.pressed) bits |= BTN.A;
      const [x = 0, y = 0] = gp.axes;
      if (x <= -STICK_THRESHOLD) bits |= BTN.Left;
      if (x >= STICK_THRESHOLD) bits |= BTN.Right;
      if (y <= -STICK_THRESHOLD) bits |= BTN.Up;
      if (y >= STICK_THRESHOLD) bits |= BTN.Down;
    }
  }
  if (bits !== session.bits.pad || inputKey(0, sticks) !== inputKey(0, session.sticks)) {
    session.bits.pad = bits;
    session.sticks = sticks;
    flushInput();
  }
  requestAnimationFrame(pollGamepads);
}

// ---------- touch pad ----------

const touchPointers = new Map(); // pointerId -> bits held by that finger

function dpadBits(el, x, y) {
  const r = el.getBoundingClientRect();
  const dx = (x - (r.left + r.width / 2)) / (r.width / 2);
  const dy = (y - (r.top + r.height / 2)) / (r.height / 2);
  const dead = 0.25;
  if (Math.hypot(dx, dy) < dead) return 0;
  let bits = 0;
  // 8 directions: a diagonal when both components are large enough.
  const ax = Math.abs(dx), ay = Math.abs(dy);
  if (ax > dead && ax >= ay * 0.4142) bits |= dx < 0 ? BTN.Left : BTN.Right;
  if (ay > dead && ay >= ax * 0.4142) bits |= dy < 0 ? BTN.Up : BTN.Down;
  return bits;
}

function bitsAt(x, y) {
  const el = document.elementFromPoint(x, y);
  if (!el) return 0;
  const dpad = el.closest('#dpad');
  if (dpad) return dpadBits(dpad, x, y);
  const btn = el.closest('.tbtn');
  return btn ? BTN[btn.dataset.btn] || 0 : 0;
}

function updateTouch() {
  let bits = 0;
  for (const b of touchPointers.values()) bits |= b;
  session.bits.touch = bits;
  for (const el of document.querySelectorAll('#touchpad .tbtn')) {
    el.classList.toggle('pressed', (bits & BTN[el.dataset.btn]) !== 0);
  }
  flushInput();
}

const coarsePointer = matchMedia('(pointer: coarse)');

// The pad shows on phones and in controller mode; a spectator has none (it has nothing to drive).
function showTouchpad() {
  const pad = $('touchpad');
  const hide = view.watchAsked || body.dataset.role === 'spectator' || !(coarsePointer.matches || padMode());
  if (hide && !pad.hidden) {
    touchPointers.clear();
    updateTouch();
  }
  pad.hidden = hide;
}

// setPointerBits records what one finger holds; a finger that lands on (or
// slides onto) a button it did not hold buzzes.
function setPointerBits(pointerId, bits) {
  const before = touchPointers.get(pointerId) ?? 0;
  touchPointers.set(pointerId, bits);
  if (bits & ~before) {
    try { navigator.vibrate?.(PRESS_VIBRATE_MS); } catch { /* not allowed here */ }
  }
  updateTouch();
}

function setupTouchpad() {
  const pad = $('touchpad');
  showTouchpad();
  coarsePointer.addEventListener?.('change', showTouchpad);
  // A finger may slide from one button to the next: track each pointer by position.
  pad.addEventListener('pointerdown', (ev) => {
    ev.preventDefault();
    try { pad.setPointerCapture(ev.pointerId); } catch { /* synthetic pointer */ }
    setPointerBits(ev.pointerId, bitsAt(ev.clientX, ev.clientY));
    unlockAudio();
  });
  pad.addEventListener('pointermove', (ev) => {
    if (!touchPointers.has(ev.pointerId)) return;
    const bits = bitsAt(ev.clientX, ev.clientY);
    if (bits !== touchPointers.get(ev.pointerId)) setPointerBits(ev.pointerId, bits);
  });
  const up = (ev) => {
    if (touchPointers.delete(ev.pointerId)) updateTouch();
    // The end of a touch, not its start, is the user gesture that may start
    // sound (iOS), go full screen or take a wake lock (a touch may be a scroll until it ends).
    if (ev.type !== 'pointerup') return;
    unlockAudio();
    if (padMode()) {
      if (!view.fullscreenTried) {
        view.fullscreenTried = true;
        enterFullscreen();
      }
      keepAwake();
    }
  };
  pad.addEventListener('pointerup', up);
  pad.addEventListener('pointercancel', up);
  pad.addEventListener('lostpointercapture', up);
  pad.addEventListener('contextmenu', (ev) => ev.preventDefault());
}

// ---------- game console (library, commands, what runs) ----------
//
// Every page shows what runs (title, name, a banner when it crashed); the
// player in slot 1 also gets the Games panel: the library with Play buttons,
// Stop, Reset and save states. The host broadcasts a `game` message on every
// change, so the panel closes when the game asked for is running.

const games = {
  list: null, // the last library message's games
  current: null, // the last game status: {name, width, height, id, state, message}
  pending: null, // id of a play request waiting for its game message
};

function showGame(game) {
  if (!game) return;
  games.current = game;
  session.game = game;
  const name = game.name || 'couchplay';
  document.title = `${name} — couchplay`;
  $('game-name').textContent = name;
  body.dataset.game = game.state || 'running';
  const crash = $('crash');
  if (game.state === GAME_CRASHED) {
    $('crash-text').textContent = game.message || `${name} crashed.`;
    crash.hidden = false;
  } else {
    crash.hidden = true;
    $('crash-text').textContent = '';
  }
  showRestart();
  if (games.pending && game.id === games.pending && game.state !== GAME_CRASHED) {
    games.pending = null;
    closeGames();
  }
  setGamesBusy(false);
  markCurrent();
}

// Player 1 may start a crashed game again from the banner (the same play
// command as the panel's, with the crashed game's id).
function showRestart() {
  const crashed = games.current?.state === GAME_CRASHED;
  const button = $('crash-restart');
  button.hidden = !crashed || body.dataset.slot !== '1' || !games.current?.id;
  button.disabled = false;
}

function restartGame() {
  const id = games.current?.id;
  if (!id || body.dataset.slot !== '1') return;
  $('crash-restart').disabled = true; // until the host answers (a game message or an error)
  playGame(id);
}

function showLibrary(list) {
  games.list = Array.isArray(list) ? list : [];
  const ul = $('games-list');
  ul.replaceChildren();
  if (!games.list.length) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'No games found.';
    ul.append(li);
    return;
  }
  for (const g of games.list) {
    const li = document.createElement('li');
    li.dataset.id = g.id;
    const info = document.createElement('div');
    info.className = 'info';
    const name = document.createElement('div');
    name.className = 'name';
    name.textContent = g.name || g.id;
    const system = document.createElement('div');
    system.className = 'system';
    system.textContent = [g.system, g.core].filter(Boolean).join(' · ');
    info.append(name, system);
    const play = document.createElement('button');
    play.type = 'button';
    play.className = 'play';
    play.textContent = 'Play';
    play.setAttribute('aria-label', `Play ${g.name || g.id}`);
    if (g.problem) {
      li.classList.add('unavailable');
      const problem = document.createElement('div');
      problem.className = 'problem';
      problem.textContent = g.problem;
      info.append(problem);
      play.disabled = true;
      play.title = g.problem;
    } else {
      play.addEventListener('click', () => playGame(g.id));
    }
    li.append(info, play);
    ul.append(li);
  }
  markCurrent();
}

function markCurrent() {
  for (const li of $('games-list').querySelectorAll('li[data-id]')) {
    li.classList.toggle('current', li.dataset.id === games.current?.id);
  }
}

// While a command runs, the panel's buttons wait (Console.Play may take seconds).
function setGamesBusy(busy) {
  $('games-panel').classList.toggle('busy', busy);
  $('games-panel').setAttribute('aria-busy', String(busy));
}

function gamesOpen() { return !$('games-panel').hidden; }

function openGames() {
  if (body.dataset.slot !== '1') return;
  const panel = $('games-panel');
  releaseAll(); // keys held now would stay held while the panel has the keyboard
  panel.hidden = false;
  body.dataset.panel = 'games';
  send({ type: MSG.library }); // fresh list (games may have been added)
  (panel.querySelector('#games-list button.play:not(:disabled)') || panel).focus();
}

function closeGames() {
  const panel = $('games-panel');
  if (panel.hidden) return;
  panel.hidden = true;
  delete body.dataset.panel;
  // Give the keyboard back to the game, not to a button (Enter is Start).
  if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
}

function toggleGames() {
  if (gamesOpen()) closeGames(); else openGames();
}

function playGame(id) {
  games.pending = id;
  setGamesBusy(true);
  send({ type: MSG.play, game: id });
}

function stateSlot() { return Number($('state-slot').value) || 1; }

function setupGames() {
  const select = $('state-slot');
  for (let i = 1; i <= STATE_SLOTS; i++) {
    const opt = document.createElement('option');
    opt.value = String(i);
    opt.textContent = String(i);
    select.append(opt);
  }
  $('games-button').addEventListener('click', (ev) => { ev.currentTarget.blur(); toggleGames(); });
  $('games-close').addEventListener('click', closeGames);
  $('crash-restart').addEventListener('click', (ev) => { ev.currentTarget.blur(); restartGame(); });
  $('game-stop').addEventListener('click', () => { games.pending = null; send({ type: MSG.stop }); });
  $('game-reset').addEventListener('click', () => send({ type: MSG.reset }));
  $('state-save').addEventListener('click', () => send({ type: MSG.saveState, stateSlot: stateSlot() }));
  $('state-load').addEventListener('click', () => send({ type: MSG.loadState, stateSlot: stateSlot() }));
  // Touches and clicks in the panel are the panel's, not the page's.
  $('games-panel').addEventListener('pointerdown', (ev) => ev.stopPropagation());
}

// ---------- stats overlay ----------

let statsTimer = 0;

function toggleStats() {
  const el = $('stats');
  el.hidden = !el.hidden;
  clearInterval(statsTimer);
  if (!el.hidden) {
    updateStats();
    statsTimer = setInterval(updateStats, STATS_INTERVAL_MS);
  }
}
$('stats-toggle').addEventListener('click', (ev) => { ev.currentTarget.blur(); toggleStats(); });

// The last counters per inbound stream, for rates and loss between two updates.
const lastInbound = {}; // kind -> {bytes, received, lost, ts}

// inboundDelta returns the received kbit/s and the loss (%) since the last update.
function inboundDelta(s) {
  const last = lastInbound[s.kind];
  lastInbound[s.kind] = { bytes: s.bytesReceived, received: s.packetsReceived, lost: s.packetsLost, ts: s.timestamp };
  if (!last || s.timestamp <= last.ts) return { kbps: '–', loss: '–' };
  const got = s.packetsReceived - last.received, lost = Math.max(0, s.packetsLost - last.lost);
  return {
    kbps: String(Math.round(((s.bytesReceived - last.bytes) * 8) / (s.timestamp - last.ts))),
    loss: got + lost > 0 ? `${((100 * lost) / (got + lost)).toFixed(1)} %` : '0 %',
  };
}

async function updateStats() {
  const lines = [];
  const pc = session.pc;
  let fps = '–', res = '–', rtt = '–', audio = '–', freezes = '–';
  let video = { kbps: '–', loss: '–' }, videoJitter = '–', audioJitter = '–', audioLoss = '–';
  if (pc) {
    const report = await pc.getStats();
    let pairId = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        if (s.framesPerSecond !== undefined) fps = String(Math.round(s.framesPerSecond));
        if (s.frameWidth) res = `${s.frameWidth}×${s.frameHeight}`;
        video = inboundDelta(s);
        if (s.jitter !== undefined) videoJitter = `${(s.jitter * 1000).toFixed(1)} ms`;
        if (s.freezeCount !== undefined) freezes = String(s.freezeCount);
      } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        audio = `${s.packetsReceived} pkts`;
        audioLoss = inboundDelta(s).loss;
        if (s.jitter !== undefined) audioJitter = `${(s.jitter * 1000).toFixed(1)} ms`;
      } else if (s.type === 'transport' && s.selectedCandidatePairId) {
        pairId = s.selectedCandidatePairId;
      }
    });
    const pair = pairId ? report.get(pairId) : [...report.values()].find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
    if (pair?.currentRoundTripTime !== undefined) rtt = `${(pair.currentRoundTripTime * 1000).toFixed(1)} ms`;
  }
  const b = sound.buffer;
  const frames = (n) => (n === undefined ? '–' : `${(n / AUDIO_RATE * 1000).toFixed(0)} ms`);
  lines.push(`fps        ${fps}`);
  lines.push(`video      ${video.kbps} kbps, loss ${video.loss}, jitter ${videoJitter}, freezes ${freezes}`);
  lines.push(`resolution ${res}`);
  lines.push(`rtt        ${rtt}`);
  lines.push(`audio      ${audio}, loss ${audioLoss}, jitter ${audioJitter}`);
  lines.push(`sound      ${soundStats()}`);
  if (sound.path === AUDIO_PATH.fast) {
    lines.push(`buffer     ${b.queuedMs !== undefined ? `${Math.round(b.queuedMs)} ms` : frames(b.queued)} (target ${b.targetMs !== undefined ? `${Math.round(b.targetMs)} ms` : frames(b.start)}), gaps ${b.gaps ?? b.underruns ?? 0}`);
  }
  lines.push(`input      ${inputStats.changes} changes, ${inputStats.copies} copies, ${inputStats.repeats} repeats`);
  lines.push(`signalling ${body.dataset.signal}`);
  lines.push(`slot       ${body.dataset.slot ?? '–'}`);
  $('stats').textContent = lines.join('\n');
}

// ---------- sound over the audio data channel ----------

// DESIGN §3: Chrome plays an RTP audio track through NetEQ, which holds it
// 50-65 ms. Where the page can (index.html's couchplayFastAudio: a secure
// context with WebCodecs and AudioWorklet), its join asks for the same Opus
// packets over the 'audio' data channel too; they are decoded here and played
// through an adaptive jitter buffer (jitter.js, run by audio-worklet.js): it
// holds about the measured arrival jitter (one packet at least, and its
// figures go to the F3 overlay), steers its queue by playing up to 2 % faster
// or slower instead of dropping sound, and conceals what is missing instead
// of playing silence. The channel is unordered without retransmits, so each
// message also carries the packet before it: when packet N comes and N-1 never
// did, the copy of N-1 is decoded first and played (if it comes after its
// time, what is left of it: the concealment stood in for the rest). The RTP
// track always comes as well: the <video> element plays it muted meanwhile,
// and with its sound if this path cannot start, fails or stalls. Both paths
// play as early as they can, like the video (playout delay 0), so they stay
// in step with it.
const AUDIO_LABEL = 'audio';
// (stream/audiochannel.go; little-endian, the timestamp in 48 kHz samples)
// [type u8 = 0x02][seq u16][timestamp u32][Opus packet]
// [type u8 = 0x03][seq u16][timestamp u32][primary length u16][primary][the packet of seq - 1]
const AUDIO_MESSAGE = 0x02;
const AUDIO_MESSAGE_REDUNDANT = 0x03;
const AUDIO_HEADER = 7;
const AUDIO_REDUNDANT_HEADER = AUDIO_HEADER + 2; // and the primary's length
const AUDIO_SEQ_HALF = 0x8000; // sequence numbers wrap at 16 bits: half ahead or more is behind
const AUDIO_RATE = 48000;
const AUDIO_CHANNELS = 2; // the host encodes stereo (stream.opusChannels)
const AUDIO_PACKET_FRAMES = AUDIO_RATE / 100; // 10 ms: every host packet, so the copy of seq - 1 starts this much earlier
const AUDIO_DECODE_QUEUE = 10; // packets (100 ms); a decoder further behind skips packets
const AUDIO_START_MS = 3000; // connected and no packet by then: fall back
const AUDIO_STALL_MS = 1000; // no packet for this long while the RTP track has sound: fall back
const AUDIO_CHECK_MS = 500;
const AUDIO_PATH = Object.freeze({ fast: 'datachannel', rtp: 'rtp' });

const sound = {
  path: window.couchplayFastAudio?.() ? AUDIO_PATH.fast : AUDIO_PATH.rtp,
  fallback: '', // why the page left the fast path
  ctx: null, node: null, output: null, // one AudioContext per page: it is unlocked once
  channel: null, decoder: null, // per stream
  // What each decode is, in decode order: {mediaTime (s), recovered}. The
  // decoder's own output timestamps run on from the first one across lost
  // packets, so the buffer gets the packets' media times from here.
  decoding: [],
  lastSeq: -1, lastAt: 0, connectedAt: 0, rtpPackets: 0,
  packets: 0, late: 0, decoded: 0,
  lost: 0, recovered: 0, // sequence numbers that never came; of them, decoded from the next packet's copy
  buffer: {}, // the jitter buffer's last figures (jitter.js stats())
};
body.dataset.audio = sound.path;

// The context and the worklet, made when the first audio channel opens.
async function audioOutput() {
  if (sound.node) return;
  if (!sound.ctx) {
    sound.ctx = new AudioContext({ sampleRate: AUDIO_RATE, latencyHint: 'interactive' });
    // Suspended: autoplay with sound was refused, a tap resumes it (unmute).
    // It may also start a moment later by itself, and iOS suspends it in the background.
    const showTap = () => {
      if (sound.path !== AUDIO_PATH.fast) return;
      $('unmute').hidden = sound.ctx.state === 'running' || padMode();
    };
    sound.ctx.addEventListener('statechange', showTap);
    showTap();
  }
  // The worklet gets PCM at the packets' rate: a context that runs at another one would play it at the wrong speed.
  if (sound.ctx.sampleRate !== AUDIO_RATE) throw new Error(`the audio output runs at ${sound.ctx.sampleRate} Hz`);
  await sound.ctx.audioWorklet.addModule(new URL('audio-worklet.js', import.meta.url));
  if (sound.node) return;
  const node = new AudioWorkletNode(sound.ctx, 'couchplay-jitter', {
    numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [AUDIO_CHANNELS],
    processorOptions: { channels: AUDIO_CHANNELS, packetFrames: AUDIO_PACKET_FRAMES },
  });
  node.port.onmessage = ({ data }) => { sound.buffer = { ...data, lost: sound.lost, recovered: sound.recovered }; };
  sound.output = sound.ctx.createGain();
  node.connect(sound.output).connect(sound.ctx.destination);
  sound.node = node;
}

async function openFastChannel(ch) {
  if (sound.path !== AUDIO_PATH.fast) { ch.close(); return; } // the host stops sending
  ch.binaryType = 'arraybuffer';
  closeFastChannel();
  sound.channel = ch;
  const config = { codec: 'opus', sampleRate: AUDIO_RATE, numberOfChannels: AUDIO_CHANNELS };
  try {
    await audioOutput();
    if (!(await AudioDecoder.isConfigSupported(config)).supported) throw new Error('this browser cannot decode Opus');
  } catch (err) {
    fallBackToRTP(`the fast audio path cannot start: ${err.message}`);
    return;
  }
  if (sound.channel !== ch) return; // a newer stream took over meanwhile
  const decoder = new AudioDecoder({
    output: (data) => playDecoded(data),
    error: (err) => { if (sound.decoder === decoder) fallBackToRTP(`the Opus decoder failed: ${err.message}`); },
  });
  decoder.configure(config);
  sound.decoder = decoder;
  ch.onmessage = (ev) => { if (sound.channel === ch) onAudioMessage(ev.data); };
  ch.onclose = () => { if (sound.channel === ch) sound.channel = null; };
}

// parseAudioMessage splits an audio message (either form) into
// {seq, ts, primary, previous}; previous is null in the 0x02 form. Null if malformed.
function parseAudioMessage(b) {
  const redundant = b[0] === AUDIO_MESSAGE_REDUNDANT;
  if (b[0] !== AUDIO_MESSAGE && !redundant) return null;
  const header = redundant ? AUDIO_REDUNDANT_HEADER : AUDIO_HEADER;
  if (b.length <= header) return null;
  const seq = b[1] | (b[2] << 8);
  const ts = (b[3] | (b[4] << 8) | (b[5] << 16) | (b[6] << 24)) >>> 0;
  if (!redundant) return { seq, ts, primary: b.subarray(header), previous: null };
  const primaryLength = b[7] | (b[8] << 8);
  if (primaryLength === 0 || header + primaryLength > b.length) return null;
  const previous = b.subarray(header + primaryLength);
  return { seq, ts, primary: b.subarray(header, header + primaryLength), previous: previous.length ? previous : null };
}

function onAudioMessage(data) {
  const m = parseAudioMessage(new Uint8Array(data));
  if (!m || !sound.decoder) return;
  // The channel is unordered: a packet not after the newest one is late (or a duplicate) and dropped.
  const ahead = (m.seq - sound.lastSeq) & 0xffff;
  if (sound.lastSeq >= 0 && (ahead === 0 || ahead >= AUDIO_SEQ_HALF)) { sound.late++; return; }
  const missed = sound.lastSeq >= 0 ? ahead - 1 : 0; // sequence numbers that never came before this one
  sound.lastSeq = m.seq;
  sound.lastAt = performance.now();
  sound.packets++;
  sound.lost += missed;
  if (sound.decoder.state !== 'configured' || sound.decoder.decodeQueueSize > AUDIO_DECODE_QUEUE) { sound.late++; return; }
  // seq - 1 never came: its copy rides in this message, and is decoded first (the decoder keeps state from packet to packet).
  if (missed > 0 && m.previous) {
    decodeAudio(m.previous, (m.ts - AUDIO_PACKET_FRAMES) >>> 0, true);
    sound.recovered++;
  }
  decodeAudio(m.primary, m.ts, false);
}

function decodeAudio(packet, ts, recovered) {
  sound.decoding.push({ mediaTime: ts / AUDIO_RATE, recovered });
  sound.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: Math.round(ts * 1e6 / AUDIO_RATE), data: packet }));
}

function playDecoded(data) {
  const packet = sound.decoding.shift(); // one output per Opus packet, in decode order
  try {
    if (sound.path !== AUDIO_PATH.fast || !sound.node) return;
    const planes = [];
    for (let c = 0; c < data.numberOfChannels; c++) {
      const plane = new Float32Array(data.numberOfFrames);
      data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
      planes.push(plane);
    }
    const mediaTime = packet?.mediaTime ?? data.timestamp / 1e6;
    sound.node.port.postMessage({ planes, mediaTime, recovered: packet?.recovered ?? false }, planes.map((p) => p.buffer));
    if (sound.decoded++ === 0) mark('fast-audio');
  } catch (err) {
    fallBackToRTP(`cannot read the decoded sound: ${err.message}`);
  } finally {
    data.close();
  }
}

function closeFastChannel() {
  const { channel, decoder } = sound;
  sound.channel = null;
  sound.decoder = null;
  sound.decoding = [];
  sound.lastSeq = -1;
  sound.lastAt = 0;
  sound.connectedAt = 0;
  try { if (decoder && decoder.state !== 'closed') decoder.close(); } catch { /* closed */ }
  try { channel?.close(); } catch { /* closed */ }
}

// fallBackToRTP plays the RTP track's sound from now on, also after a rejoin
// (its join no longer asks for the channel), and says why.
function fallBackToRTP(reason) {
  if (sound.path !== AUDIO_PATH.fast) return;
  sound.path = AUDIO_PATH.rtp;
  sound.fallback = reason;
  window.couchplayAudioFallback = true;
  body.dataset.audio = sound.path;
  console.warn(`couchplay: ${reason}; playing the sound of the RTP audio track instead`);
  closeFastChannel();
  if (!video.srcObject) return; // attach plays it with sound
  // Unmuting without a gesture would pause the video where autoplay with
  // sound is not allowed: then the "Tap for sound" button does it.
  if (sound.ctx?.state === 'running' || navigator.userActivation?.hasBeenActive) {
    playVideo();
  } else if (!padMode()) {
    $('unmute').hidden = false;
  }
}

// The fast path is given up when its packets stop (or never come) while the
// RTP track still brings sound; when neither does (a crashed game, a dead
// connection) there is nothing better to switch to.
async function checkFastAudio() {
  const pc = session.pc;
  if (sound.path !== AUDIO_PATH.fast || !pc || pc.connectionState !== 'connected') return;
  const now = performance.now();
  sound.connectedAt ||= now;
  let rtp = 0;
  (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') rtp = s.packetsReceived; });
  const flowing = rtp > sound.rtpPackets;
  sound.rtpPackets = rtp;
  if (!flowing || pc !== session.pc || sound.path !== AUDIO_PATH.fast) return;
  if (!sound.lastAt && now - sound.connectedAt > AUDIO_START_MS) {
    fallBackToRTP(sound.channel ? 'no packet came on the audio data channel' : 'the host opened no audio data channel');
  } else if (sound.lastAt && now - sound.lastAt > AUDIO_STALL_MS) {
    fallBackToRTP(`no packet on the audio data channel for ${AUDIO_STALL_MS} ms`);
  }
}
if (sound.path === AUDIO_PATH.fast) setInterval(checkFastAudio, AUDIO_CHECK_MS);

// iOS suspends the context when the page is hidden; back in view it may resume.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && sound.ctx && sound.ctx.state !== 'running') sound.ctx.resume().catch(() => {});
});

function soundStats() {
  if (sound.path !== AUDIO_PATH.fast) return sound.fallback ? `RTP track (fallback: ${sound.fallback})` : 'RTP track';
  const b = sound.buffer;
  const rate = b.rate === undefined ? '–' : `${b.rate >= 1 ? '+' : ''}${((b.rate - 1) * 100).toFixed(2)} %`;
  return `data channel + WebCodecs, ${b.underruns ?? 0} underruns, ${b.concealedMs ?? 0} ms concealed, `
    + `${sound.lost} lost / ${sound.recovered} recovered, ${sound.late} late, rate ${rate}, ${sound.ctx?.state ?? 'no context'}`;
}

// ---------- leaving ----------

// A page that goes into the back/forward cache (persisted) may come back: it
// drops the connection without a leave, so the host holds the slot for its
// token (20 s), and pageshow rejoins. A closed or reloaded page leaves at once.
window.addEventListener('pagehide', (ev) => {
  session.leaving = true;
  clearTimeout(session.reconnectTimer);
  releaseAll();
  const t = session.transport;
  if (ev.persisted) {
    session.transport = null;
    // A poll session is not shut (that says leave): the host replaces it on the rejoin, or times it out.
    if (t?.name === 'ws') t.close(1001, 'page frozen');
  } else {
    t?.leave();
  }
  try { session.pc?.close(); } catch { /* already closed */ }
});

window.addEventListener('pageshow', (ev) => {
  if (!ev.persisted) return; // a fresh load: connect() runs as the module loads
  mark('pageshow-persisted');
  session.leaving = false;
  if (session.failed) return; // the error (and its Retry) stays
  if (session.transport) {
    // Still connected (pagehide never came): the signalling kept going, the stream may not have.
    const t = session.transport;
    session.transport = null;
    if (t.name === 'ws') t.close(4002, 'restored from the back/forward cache');
  }
  session.lostAt = 0;
  session.rejoins = 0;
  reconnect('Back — reconnecting…');
});

// ---------- test hooks ----------

function exposeForTests() {
  window.couchplay = {
    get pc() { return session.pc; },
    get ws() { return session.transport?.socket ?? null; },
    get signal() { return session.transport?.name ?? null; },
    get channel() { return session.channel; },
    // Holds these buttons (on top of keyboard/touch/pad) until called with 0.
    sendButtons(bits) { session.bits.extra = bits & 0xffff; flushInput(); },
    // The button state the page holds now (keyboard, touch, gamepads, sendButtons).
    get buttons() { return currentBits(); },
    // The gamepad sticks the page holds now: left X, left Y, right X, right Y.
    get sticks() { return [...session.sticks]; },
    // Input messages sent: changes, their copies, periodic repeats.
    get inputStats() { return { ...inputStats }; },
    BTN,
    PLAYER_COLOURS,
    // The sound path: which one plays, and the fast path's last WebAudio node
    // (before the speakers), for tests and the bench to tap what is heard.
    audio: {
      get path() { return sound.path; },
      get fallback() { return sound.fallback; },
      get context() { return sound.ctx; },
      get output() { return sound.output; },
      get stats() { return { packets: sound.packets, late: sound.late, decoded: sound.decoded, ...sound.buffer }; },
    },
  };
}

exposeForTests();
setupTouchpad();
setupView();
setupGames();
setupCodePrompt();
requestAnimationFrame(pollGamepads);
connect();
