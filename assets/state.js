// couchplay web client: page state.

import { $, TOAST_MS, body, session } from './page.js';
import { connect, reconnect, resetStream } from './signalling.js';
import { releaseAll } from './input.js';

export function setState(state) {
  if (body.dataset.state === 'error') return; // an error is final for this page load
  body.dataset.state = state;
}

// fail shows an error and stops; retry: the error offers a Retry button (the
// connection may come back: the host or the network was away, not refusing).
export function fail(message, { retry = false } = {}) {
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
export function retry() {
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
export function toast(message) {
  const el = $('toast');
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, TOAST_MS);
}

export function setStatus(text) { $('status').textContent = text; }

// Performance marks of the connection steps, for `make bench` and devtools.
export function mark(name) {
  try { performance.mark(`couchplay:${name}`); } catch { /* old browser */ }
}
