// couchplay web client: signalling.

import { $, MSG, TOKEN_KEY, body, session } from './page.js';
import { fail, mark, retry, setStatus, toast } from './state.js';
import { applyView, onError, onRoster, rejoinToWatch } from './view.js';
import { codeTimer } from './code-prompt.js';
import { onOffer, onRemoteCandidate, restartStream } from './rtc.js';
import { watchFirstFrameAgain } from './media.js';
import { releaseAll } from './input.js';
import { closeGames, games, showGame, showLibrary, showRestart } from './games.js';
import { closeFastChannel } from './sound.js';
import { onSocketMedia, startSocketMedia, stopSocketMedia } from './wsmedia.js';

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

export function hostURL() { return pageURL('.').href; }

export function wsURL() {
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

export function send(msg) {
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
      const msg = joinMessage(t);
      if (msg) t.send(msg);
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

// joinMessage is index.html's join message for transport t, or null when the
// page cannot play over it: WebSocket media needs the WebSocket.
function joinMessage(t) {
  const msg = window.couchplayJoinMessage();
  session.mediaReason = msg.media ? window.couchplayMediaChoice() : '';
  if (msg.media && t.name !== 'ws') {
    if (typeof RTCPeerConnection !== 'function') {
      fail('This browser has no WebRTC, so the game would come over the WebSocket, but a proxy between this page and ' +
        'the host blocks WebSockets (it drops the Upgrade/Connection headers). Open the host\'s own address, or ask ' +
        'the admin to forward those headers.');
      return null;
    }
    delete msg.media; // WebRTC could not connect before: try it again, nothing else can work here
    session.mediaReason = '';
  }
  return msg;
}

export function connect() {
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
export function wsTransport(ws, early) {
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
  if (early?.joined) session.mediaReason = early.mediaReason ?? '';
  const onMessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { toast('The host sent a message this page cannot read.'); return; }
    sink.message(t, msg);
  };
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') { if (t === session.transport) onSocketMedia(ev.data); return; }
    onMessage(ev);
  };
  ws.onclose = (ev) => sink.closed(t, { opened: t.opened, code: ev.code, reason: ev.reason });
  ws.onerror = () => { /* onclose follows with the details */ };
  const onOpen = () => { t.opened = true; sink.opened(t); };
  if (ws.readyState === WebSocket.OPEN) onOpen(); else ws.onopen = onOpen;
  for (const ev of early?.queue ?? []) ws.onmessage(ev);
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
export function resetStream() {
  releaseAll();
  clearTimeout(session.stableTimer);
  clearTimeout(session.iceTimer);
  try { session.pc?.close(); } catch { /* already closed */ }
  session.pc = null;
  session.channel = null;
  session.offerHasVideo = undefined; // known once the host's offer came
  closeFastChannel();
  session.pendingCandidates = [];
  session.welcomed = false;
  stopSocketMedia();
  watchFirstFrameAgain();
}

// reconnect schedules the next attempt to rejoin after the signalling dropped
// (or an attempt failed): the join carries the session token, so the host hands
// back the same slot, and a fresh offer restarts the stream.
export function reconnect(status = 'Connection lost — reconnecting…') {
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
export async function fallBack() {
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

export async function openPoll(timeoutMs = FETCH_TIMEOUT_MS) {
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
  if (session.mediaReason) {
    startSocketMedia(session.transport, session.mediaReason);
  } else {
    body.dataset.media = 'webrtc';
  }
  showGame(msg.game);
  applyView();
  $('games-button').hidden = body.dataset.slot !== '1';
  showRestart();
  if (body.dataset.slot !== '1') closeGames();
  setStatus(spectator ? 'Watching — starting the stream…' : `Player ${msg.slot} — starting the stream…`);
}
