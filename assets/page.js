// couchplay web client: the constants of the protocols, the elements of the page and its session state.

// Message types of the signalling protocol (JSON over /ws or poll/).
export const MSG = Object.freeze({
  join: 'join', answer: 'answer', candidate: 'candidate', leave: 'leave',
  welcome: 'welcome', offer: 'offer', roster: 'roster', error: 'error',
  // the game console: library both ways; commands from player 1; game/notice from the host
  library: 'library', play: 'play', stop: 'stop', reset: 'reset',
  saveState: 'save_state', loadState: 'load_state', game: 'game', notice: 'notice',
  // WebSocket media: the page's video decoder needs a keyframe
  keyframe: 'keyframe',
});

// Error codes after which the session goes on: the host only rejected one message.
export const NONFATAL_ERRORS = new Set([
  'bad_json', 'unknown_type', 'bad_message', 'bad_input', 'bad_candidate',
  'not_joined', 'already_joined', 'rate_limited', 'not_allowed', 'game_failed',
]);
// Errors of a game command: shown as they are (the console's own words).
export const GAME_ERRORS = new Set(['not_allowed', 'game_failed', 'rate_limited']);
// The host's peer failed or could not use the answer: the page restarts the stream (restartStream).
export const WEBRTC_ERROR = 'webrtc';
// Code mode (DESIGN §4): the host wants the room code (code_required), got a
// wrong one (bad_code) or too many (rate_limited with retryAfter); kicked: the
// host removed this page, which must not rejoin by itself.
export const CODE_ERRORS = new Set(['code_required', 'bad_code']);
export const KICKED = 'kicked';
export const ROOM_CODE = /^\d{4}$/;
export const STATE_SLOTS = 9; // emu.StateSlots
export const GAME_CRASHED = 'crashed';
export const SLOTS = 4; // emu.Ports

// Binary input messages on the data channel (emu/input.go), little endian:
// buttons only [type, seq u8, buttons u16], or with the sticks [type, seq u8,
// buttons u16, left X, left Y, right X, right Y: int16 each]. Either is the full
// pad state; the short one means centred sticks, so it is sent whenever they are.
// The page sends one input message type: buttons, the previous message's
// buttons, sticks (the host still reads the older 0x01 and 0x02).
export const INPUT_PREVIOUS_MESSAGE = 0x03;
export const INPUT_PREVIOUS_SIZE = 14;

// Button bits = libretro joypad ids (emu.Buttons).
export const BTN = Object.freeze({
  B: 1 << 0, Y: 1 << 1, Select: 1 << 2, Start: 1 << 3,
  Up: 1 << 4, Down: 1 << 5, Left: 1 << 6, Right: 1 << 7,
  A: 1 << 8, X: 1 << 9, L: 1 << 10, R: 1 << 11,
  L2: 1 << 12, R2: 1 << 13, L3: 1 << 14, R3: 1 << 15,
});

// RetroArch default keyboard map, on event.code so it is layout-independent.
export const KEYS = Object.freeze({
  ArrowUp: BTN.Up, ArrowDown: BTN.Down, ArrowLeft: BTN.Left, ArrowRight: BTN.Right,
  KeyX: BTN.A, KeyZ: BTN.B, KeyS: BTN.X, KeyA: BTN.Y, KeyQ: BTN.L, KeyW: BTN.R,
  Enter: BTN.Start, ShiftLeft: BTN.Select, ShiftRight: BTN.Select,
});

// Gamepad API "standard" mapping, by position like RetroArch: the bottom face
// button is the SNES B, the right one A, left Y, top X.
export const PAD_BUTTONS = [
  [0, BTN.B], [1, BTN.A], [2, BTN.Y], [3, BTN.X], [4, BTN.L], [5, BTN.R],
  [6, BTN.L2], [7, BTN.R2], [8, BTN.Select], [9, BTN.Start], [10, BTN.L3], [11, BTN.R3],
  [12, BTN.Up], [13, BTN.Down], [14, BTN.Left], [15, BTN.Right],
];
export const STICK_THRESHOLD = 0.5; // unknown layouts: how far an axis leans to press the d-pad
// Standard mapping: a stick nearer the centre than this (of full travel) is
// centred, so a worn stick does not drift; travel beyond is rescaled to 0..1.
export const STICK_DEAD_ZONE = 0.12;
export const TOKEN_KEY = 'couchplay.token';
export const TOAST_MS = 4000;
export const STATS_INTERVAL_MS = 1000;
// The players' colours, P1–P4 (the host's window uses the same): blue, red, green, yellow.
export const PLAYER_COLOURS = ['#1e88e5', '#e53935', '#43a047', '#fdd835'];
export const PLAYER_INKS = ['#fff', '#fff', '#fff', '#000']; // readable text on each colour
// A short buzz on each press, where the phone can (navigator.vibrate).
export const PRESS_VIBRATE_MS = 12;

export const $ = (id) => document.getElementById(id);
export const video = $('screen');
export const body = document.body;

export const session = {
  transport: null, // the signalling transport in use (ws or poll)
  welcomed: false, // the host has said welcome
  pc: null,
  channel: null,
  pendingCandidates: [], // remote candidates that arrived before the offer was applied
  leaving: false, // pagehide: closes are expected from here on
  failed: false,
  mode: 'ws', // the transport the page is on: reconnects use it too ('poll' once the WebSocket failed)
  joinedOnce: false, // the host said welcome at least once this page load: a drop is reconnected
  lostAt: 0, // Date.now() when the connection dropped; 0 = not reconnecting
  reconnects: 0, // attempts since the connection dropped
  reconnectTimer: 0,
  rejoins: 0, // stream restarts (ICE failed, host webrtc error) since the stream was last stable
  stableTimer: 0,
  seq: 0,
  sent: '', // the last state sent (inputKey), '' = none yet
  sentBits: 0, // the buttons of the last message sent (the next one's "previous")
  bits: { keys: 0, touch: 0, pad: 0, extra: 0 },
  sticks: [0, 0, 0, 0], // gamepad sticks: left X, left Y, right X, right Y (int16)
};
