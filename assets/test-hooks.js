// couchplay web client: test hooks.

import { BTN, PLAYER_COLOURS, session } from './page.js';
import { currentBits, flushInput, inputStats } from './input.js';
import { sound } from './sound.js';
import { socketMedia } from './wsmedia.js';

export function exposeForTests() {
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
    // WebSocket media: frames drawn, bytes, keyframes asked for.
    get socketMedia() { return { active: socketMedia.active, frames: socketMedia.frames, bytes: socketMedia.bytes, keyRequests: socketMedia.keyRequests }; },
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
