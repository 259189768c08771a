// couchplay web client: room code.

import { $, ROOM_CODE, body, session } from './page.js';
import { fail, retry, setStatus } from './state.js';
import { fallBack, hostURL, openPoll, resetStream, wsTransport, wsURL } from './signalling.js';

export let codeTimer = 0;

// askCode shows the room code prompt (state "code"). The connection that was
// refused is closed; the code opens a fresh one (the host closes sockets that
// do not join in time, and typing takes a while).
export function askCode(msg) {
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

export function setupCodePrompt() {
  $('code-prompt').addEventListener('submit', submitCode);
  // Digits only (a phone's numeric keyboard may still offer others).
  $('code-input').addEventListener('input', (ev) => {
    const el = ev.target;
    const digits = el.value.replace(/\D/g, '').slice(0, 4);
    if (digits !== el.value) el.value = digits;
  });
}
