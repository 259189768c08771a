// couchplay web client: leaving.

import { session } from './page.js';
import { mark } from './state.js';
import { reconnect } from './signalling.js';
import { releaseAll } from './input.js';

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
    // Not 1001: the host takes a browser's 1001 (a page going away) as a leave.
    if (t?.name === 'ws') t.close(4003, 'page frozen');
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
