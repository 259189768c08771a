// couchplay web client: joins the host over a WebSocket (or HTTP long-polling
// when a proxy blocks WebSockets), receives the game as a WebRTC video+audio
// stream and sends the pad state back on the `input` data channel. Plain ES module, no build step; every URL is relative to the page so
// it works under a proxy sub-path such as /games/.


import './page.js';
import './state.js';
import { connect } from './signalling.js';
import { setupView } from './view.js';
import { setupCodePrompt } from './code-prompt.js';
import './rtc.js';
import './media.js';
import { pollGamepads } from './input.js';
import { setupTouchpad } from './pad.js';
import { setupGames } from './games.js';
import './overlay.js';
import './sound.js';
import './leaving.js';
import { exposeForTests } from './test-hooks.js';
import { fail } from './state.js';
import { unsupportedReason } from './wsmedia.js';

exposeForTests();
setupTouchpad();
setupView();
setupGames();
setupCodePrompt();
requestAnimationFrame(pollGamepads);
if (window.couchplayCanPlay()) {
  connect();
} else {
  fail(unsupportedReason()); // index.html opened no socket either
}
