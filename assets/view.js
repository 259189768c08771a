// couchplay web client: view: the game's picture, or controller mode.

import { $, CODE_ERRORS, GAME_ERRORS, KICKED, NONFATAL_ERRORS, PLAYER_COLOURS, PLAYER_INKS, SLOTS, TOKEN_KEY, WEBRTC_ERROR, body, session, video } from './page.js';
import { fail, toast } from './state.js';
import { reconnect } from './signalling.js';
import { askCode } from './code-prompt.js';
import { restartStream } from './rtc.js';
import { unmute } from './media.js';
import { showTouchpad } from './pad.js';
import { games, setGamesBusy } from './games.js';
import { sound, worklet } from './sound.js';

//
// Controller mode (?pad, or the Controller mode button) turns a phone into a
// pad: the whole screen is the pad and the join asks for no video
// (index.html's join message: controller), so the phone decodes none; the
// sound still plays. A spectator has no pad: it gets the picture and a line
// saying why. Switching rejoins with the session token, which keeps the slot.

export const view = {
  padAsked: new URLSearchParams(location.search).has('pad'),
  watchAsked: new URLSearchParams(location.search).has('watch'),
  fullscreenTried: false, // the first touch on the pad asks for full screen, once
  wakeLock: null, // the screen wake lock held in controller mode
  wakeLockPending: false,
};

export function padMode() {
  return view.padAsked && !view.watchAsked && body.dataset.role !== 'spectator';
}

export function applyView() {
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
export function rejoinToWatch() {
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

export function enterFullscreen() {
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
export async function keepAwake() {
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
export function unlockAudio() {
  if (worklet()) {
    if (sound.ctx && sound.ctx.state !== 'running') unmute();
    return;
  }
  if (!video.srcObject || (!video.muted && !video.paused)) return;
  unmute();
}

export function setupView() {
  $('controller-button').addEventListener('click', (ev) => { ev.currentTarget.blur(); switchView(true); });
  $('pad-video').addEventListener('click', (ev) => { ev.currentTarget.blur(); switchView(false); });
  $('pad-fullscreen').addEventListener('click', (ev) => { ev.currentTarget.blur(); toggleFullscreen(); });
  // The bar's buttons are buttons, not pad controls: their touches are not pad presses.
  $('padbar').addEventListener('pointerdown', (ev) => ev.stopPropagation());
  matchMedia('(any-pointer: coarse)').addEventListener?.('change', applyView);
  applyView();
}

export function onRoster(msg) {
  session.roster = { players: msg.players || [], spectators: msg.spectators || 0 };
}

export function onError(msg) {
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
