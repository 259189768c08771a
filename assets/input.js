// couchplay web client: input.

import { $, BTN, INPUT_PREVIOUS_MESSAGE, INPUT_PREVIOUS_SIZE, KEYS, PAD_BUTTONS, STICK_DEAD_ZONE, STICK_THRESHOLD, session } from './page.js';
import { view } from './view.js';
import { touchPointers } from './pad.js';
import { closeGames, gamesOpen, toggleGames } from './games.js';
import { toggleStats } from './overlay.js';

export function currentBits() {
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
export const inputStats = { changes: 0, copies: 0, repeats: 0 };

// Sends the full pad state when it changed (or when forced after the channel opened).
export function flushInput() {
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
  const view = new DataView(new ArrayBuffer(INPUT_PREVIOUS_SIZE));
  view.setUint8(0, INPUT_PREVIOUS_MESSAGE);
  view.setUint8(1, session.seq);
  view.setUint16(2, bits, true);
  // The buttons of the message before: if every copy of a short press's down
  // is lost, its up still tells the host, which plays the press for a frame.
  view.setUint16(4, session.sentBits, true);
  sticks.forEach((v, i) => view.setInt16(6 + 2 * i, v, true));
  const msg = new Uint8Array(view.buffer);
  try {
    ch.send(msg);
    session.sent = inputKey(bits, sticks);
    session.sentBits = bits;
    return msg;
  } catch (err) {
    console.warn('couchplay: input not sent', err);
    return null;
  }
}

export function releaseAll() {
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

export function pollGamepads() {
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
