// couchplay web client: joins the host over a WebSocket, receives the game as a
// WebRTC video+audio stream and sends the pad state back on the `input` data
// channel. Plain ES module, no build step; every URL is relative to the page so
// it works under a proxy sub-path such as /games/.

// Message types of the signalling protocol (JSON over /ws).
const MSG = Object.freeze({
  join: 'join', answer: 'answer', candidate: 'candidate', leave: 'leave',
  welcome: 'welcome', offer: 'offer', roster: 'roster', error: 'error',
});

// Error codes after which the session goes on: the host only rejected one message.
const NONFATAL_ERRORS = new Set([
  'bad_json', 'unknown_type', 'bad_message', 'bad_input', 'bad_candidate',
  'not_joined', 'already_joined', 'rate_limited',
]);
const SLOTS = 4;

// Binary input message on the data channel: [type, seq u8, buttons u16 LE].
const INPUT_MESSAGE = 0x01;

// Button bits = libretro joypad ids (emu.Buttons).
const BTN = Object.freeze({
  B: 1 << 0, Y: 1 << 1, Select: 1 << 2, Start: 1 << 3,
  Up: 1 << 4, Down: 1 << 5, Left: 1 << 6, Right: 1 << 7,
  A: 1 << 8, X: 1 << 9, L: 1 << 10, R: 1 << 11,
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
  [8, BTN.Select], [9, BTN.Start], [12, BTN.Up], [13, BTN.Down], [14, BTN.Left], [15, BTN.Right],
];
const STICK_THRESHOLD = 0.5;
const TOKEN_KEY = 'couchplay.token';
const TOAST_MS = 4000;
const STATS_INTERVAL_MS = 1000;

const $ = (id) => document.getElementById(id);
const video = $('screen');
const body = document.body;

const session = {
  ws: null,
  pc: null,
  channel: null,
  pendingCandidates: [], // remote candidates that arrived before the offer was applied
  leaving: false, // pagehide: closes are expected from here on
  failed: false,
  seq: 0,
  sent: -1, // last button state sent, -1 = none yet
  bits: { keys: 0, touch: 0, pad: 0, extra: 0 },
  wsURL: '',
};

// ---------- page state ----------

function setState(state) {
  if (body.dataset.state === 'error') return; // an error is final for this page load
  body.dataset.state = state;
}

function fail(message) {
  if (session.leaving || session.failed) return;
  session.failed = true;
  body.dataset.state = 'error';
  const el = $('error');
  el.textContent = message;
  el.hidden = false;
  releaseAll();
  try { session.pc?.close(); } catch { /* already closed */ }
  try { session.ws?.close(); } catch { /* already closed */ }
  console.error('couchplay:', message);
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

function signalURL() {
  const u = new URL('ws', location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.search = '';
  u.hash = '';
  return u.href;
}

function send(msg) {
  const ws = session.ws;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function connect() {
  body.dataset.state = 'connecting';
  body.dataset.signal = 'ws';
  session.wsURL = signalURL();
  const hostURL = new URL('.', location.href).href;
  let opened = false;
  const early = window.couchplayEarly; // opened (and joined) by index.html while this script loaded
  delete window.couchplayEarly;
  let ws = early?.ws;
  let queued = [];
  if (!ws || ws.url !== session.wsURL || ws.readyState > WebSocket.OPEN) {
    ws?.close?.();
    try {
      ws = new WebSocket(session.wsURL);
    } catch (err) {
      fail(`Cannot open the connection to ${session.wsURL}: ${err.message}`);
      return;
    }
  } else {
    queued = early.queue;
  }
  session.ws = ws;
  const onOpen = () => {
    opened = true;
    mark('ws-open');
    setStatus('Joining…');
    if (!early?.joined || ws !== early.ws) send(window.couchplayJoinMessage());
  };
  if (ws.readyState === WebSocket.OPEN) onOpen(); else ws.onopen = onOpen;
  // The host's messages are handled one at a time, in order: the answer to an
  // offer must be set before the candidates that follow it are added.
  let chain = Promise.resolve();
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { toast('The host sent a message this page cannot read.'); return; }
    chain = chain.then(() => onSignal(msg)).catch((err) => fail(`Could not set up the stream: ${err.message || err}`));
  };
  for (const ev of queued) ws.onmessage(ev);
  ws.onclose = (ev) => {
    if (session.leaving || session.failed) return;
    if (!opened) {
      fail(`Cannot reach the couchplay host at ${hostURL} — is it still running?`);
    } else if (ev.code === 1009) {
      fail('The host closed the connection: a message was too big.');
    } else {
      fail(`Lost the connection to the couchplay host at ${hostURL} — is it still running?` +
        (ev.reason ? ` (${ev.reason})` : ''));
    }
  };
  ws.onerror = () => { /* onclose follows with the details */ };
}

async function onSignal(msg) {
  switch (msg.type) {
    case MSG.welcome: return onWelcome(msg);
    case MSG.offer: return onOffer(msg);
    case MSG.candidate: return onRemoteCandidate(msg.candidate);
    case MSG.roster: return onRoster(msg);
    case MSG.error: return onError(msg);
    default: console.warn('couchplay: unknown message', msg.type);
  }
}

function onWelcome(msg) {
  mark('welcome');
  const spectator = msg.role === 'spectator' || !msg.slot;
  body.dataset.slot = spectator ? 'watch' : String(msg.slot);
  body.dataset.role = spectator ? 'spectator' : 'player';
  if (msg.token) {
    try { sessionStorage.setItem(TOKEN_KEY, msg.token); } catch { /* storage disabled */ }
  }
  const notice = $('notice');
  const text = msg.notice;
  if (text) {
    notice.textContent = text;
    notice.hidden = false;
  } else {
    notice.hidden = true;
  }
  if (msg.game?.name) document.title = `${msg.game.name} — couchplay`;
  session.game = msg.game || null;
  setStatus(spectator ? 'Watching — starting the stream…' : `Player ${msg.slot} — starting the stream…`);
}

function onRoster(msg) {
  session.roster = { players: msg.players || [], spectators: msg.spectators || 0 };
}

function onError(msg) {
  const text = msg.message || msg.code || 'unknown error';
  if (NONFATAL_ERRORS.has(msg.code)) {
    toast(`Host: ${text}`);
    return;
  }
  fail(`The host refused: ${text}`);
}

// ---------- WebRTC ----------

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
  pc.oniceconnectionstatechange = () => {
    if (pc.iceConnectionState === 'failed') fail('The video connection failed (ICE failed): the host cannot be reached directly on this network.');
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'connected') mark('connected');
    if (pc.connectionState === 'failed') fail('The video connection to the host failed.');
  };
  pc.ondatachannel = (ev) => {
    if (ev.channel.label !== 'input') return;
    const ch = ev.channel;
    ch.binaryType = 'arraybuffer';
    session.channel = ch;
    ch.onopen = () => { session.sent = -1; flushInput(); };
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
  watchFirstFrame();
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
  video.muted = false;
  video.play().catch(() => {});
  $('unmute').hidden = true;
}
$('unmute').addEventListener('click', unmute);
$('unmute').addEventListener('touchend', (ev) => { ev.preventDefault(); unmute(); });

// ---------- input ----------

function currentBits() {
  const b = session.bits;
  return (b.keys | b.touch | b.pad | b.extra) & 0xffff;
}

// Sends the full pad state when it changed (or when forced after the channel opened).
function flushInput() {
  const bits = currentBits();
  if (bits === session.sent) return;
  const ch = session.channel;
  if (!ch || ch.readyState !== 'open') return;
  session.seq = (session.seq + 1) & 0xff;
  const msg = new Uint8Array(4);
  msg[0] = INPUT_MESSAGE;
  msg[1] = session.seq;
  msg[2] = bits & 0xff;
  msg[3] = bits >> 8;
  try {
    ch.send(msg);
    session.sent = bits;
  } catch (err) {
    console.warn('couchplay: input not sent', err);
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
  const bit = KEYS[ev.code];
  if (!bit || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  ev.preventDefault();
  if (ev.repeat) return;
  session.bits.keys |= bit;
  flushInput();
});
window.addEventListener('keyup', (ev) => {
  const bit = KEYS[ev.code];
  if (!bit) return;
  ev.preventDefault();
  session.bits.keys &= ~bit;
  flushInput();
});
window.addEventListener('blur', releaseAll);
document.addEventListener('visibilitychange', () => { if (document.hidden) releaseAll(); });

// Gamepads are polled once per animation frame; only a change is sent.
function pollGamepads() {
  let bits = 0;
  const pads = navigator.getGamepads ? navigator.getGamepads() : [];
  for (const gp of pads) {
    if (!gp || !gp.connected) continue;
    if (gp.mapping === 'standard') {
      for (const [i, bit] of PAD_BUTTONS) if (gp.buttons[i]?.pressed) bits |= bit;
    } else {
      // Unknown layout: at least the first buttons and the d-pad as axes work.
      if (gp.buttons[0]?.pressed) bits |= BTN.B;
      if (gp.buttons[1]?.pressed) bits |= BTN.A;
    }
    const [x = 0, y = 0] = gp.axes;
    if (x <= -STICK_THRESHOLD) bits |= BTN.Left;
    if (x >= STICK_THRESHOLD) bits |= BTN.Right;
    if (y <= -STICK_THRESHOLD) bits |= BTN.Up;
    if (y >= STICK_THRESHOLD) bits |= BTN.Down;
  }
  if (bits !== session.bits.pad) {
    session.bits.pad = bits;
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

function setupTouchpad() {
  const pad = $('touchpad');
  const coarse = matchMedia('(pointer: coarse)');
  const show = () => { pad.hidden = !coarse.matches; };
  show();
  coarse.addEventListener?.('change', show);
  // A finger may slide from one button to the next: track each pointer by position.
  pad.addEventListener('pointerdown', (ev) => {
    ev.preventDefault();
    try { pad.setPointerCapture(ev.pointerId); } catch { /* synthetic pointer */ }
    touchPointers.set(ev.pointerId, bitsAt(ev.clientX, ev.clientY));
    updateTouch();
  });
  pad.addEventListener('pointermove', (ev) => {
    if (!touchPointers.has(ev.pointerId)) return;
    const bits = bitsAt(ev.clientX, ev.clientY);
    if (bits !== touchPointers.get(ev.pointerId)) {
      touchPointers.set(ev.pointerId, bits);
      updateTouch();
    }
  });
  const up = (ev) => {
    if (touchPointers.delete(ev.pointerId)) updateTouch();
  };
  pad.addEventListener('pointerup', up);
  pad.addEventListener('pointercancel', up);
  pad.addEventListener('lostpointercapture', up);
  pad.addEventListener('contextmenu', (ev) => ev.preventDefault());
}

// ---------- stats overlay ----------

let statsTimer = 0;
let lastVideoBytes = null; // {bytes, ts}

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

async function updateStats() {
  const lines = [];
  const pc = session.pc;
  let fps = '–', kbps = '–', rtt = '–', res = '–', audio = '–';
  if (pc) {
    const report = await pc.getStats();
    let pairId = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        if (s.framesPerSecond !== undefined) fps = String(Math.round(s.framesPerSecond));
        if (s.frameWidth) res = `${s.frameWidth}×${s.frameHeight}`;
        if (lastVideoBytes && s.timestamp > lastVideoBytes.ts) {
          kbps = String(Math.round(((s.bytesReceived - lastVideoBytes.bytes) * 8) / (s.timestamp - lastVideoBytes.ts)));
        }
        lastVideoBytes = { bytes: s.bytesReceived, ts: s.timestamp };
      } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        audio = `${s.packetsReceived} pkts`;
      } else if (s.type === 'transport' && s.selectedCandidatePairId) {
        pairId = s.selectedCandidatePairId;
      }
    });
    const pair = pairId ? report.get(pairId) : [...report.values()].find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
    if (pair?.currentRoundTripTime !== undefined) rtt = `${(pair.currentRoundTripTime * 1000).toFixed(1)} ms`;
  }
  lines.push(`fps        ${fps}`);
  lines.push(`video      ${kbps} kbps`);
  lines.push(`resolution ${res}`);
  lines.push(`rtt        ${rtt}`);
  lines.push(`audio      ${audio}`);
  lines.push(`signalling ${body.dataset.signal}`);
  lines.push(`slot       ${body.dataset.slot ?? '–'}`);
  $('stats').textContent = lines.join('\n');
}

// ---------- leaving ----------

window.addEventListener('pagehide', () => {
  session.leaving = true;
  send({ type: MSG.leave });
  try { session.ws?.close(1000, 'leave'); } catch { /* already closed */ }
  try { session.pc?.close(); } catch { /* already closed */ }
});

// ---------- test hooks ----------

function exposeForTests() {
  window.couchplay = {
    get pc() { return session.pc; },
    get ws() { return session.ws; },
    get channel() { return session.channel; },
    // Holds these buttons (on top of keyboard/touch/pad) until called with 0.
    sendButtons(bits) { session.bits.extra = bits & 0xffff; flushInput(); },
    BTN,
  };
}

exposeForTests();
setupTouchpad();
requestAnimationFrame(pollGamepads);
connect();
