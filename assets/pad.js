// couchplay web client: touch pad.

import { $, BTN, PRESS_VIBRATE_MS, body, session } from './page.js';
import { enterFullscreen, keepAwake, padMode, unlockAudio, view } from './view.js';
import { flushInput } from './input.js';

export const touchPointers = new Map(); // pointerId -> bits held by that finger

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
export function showTouchpad() {
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

export function setupTouchpad() {
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
