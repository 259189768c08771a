// couchplay web client: the game over the signalling WebSocket, for a browser
// without WebRTC (WebKitGTK is built without it) or whose WebRTC cannot
// connect (UDP blocked). The host sends the VP8 frames and Opus packets it
// already encodes for WebRTC (README, WebSocket media); they are decoded here
// with WebCodecs: the picture onto the canvas #screen-canvas, the sound into
// the same worklet as the audio data channel's. Input goes up the socket in
// the data channel's format.

import { $, MSG, body, session, video } from './page.js';
import { fail, mark, setState, setStatus } from './state.js';
import { send } from './signalling.js';
import { closeFastChannel, socketAudio, startSocketSound } from './sound.js';
import { flushInput } from './input.js';
import { padMode } from './view.js';

const VIDEO_MESSAGE = 0x10; // [type][flags][timestamp u32, 90 kHz][VP8 frame]
const VIDEO_HEADER = 6;
const VIDEO_KEY = 0x01;
const AUDIO_MESSAGE = 0x04;
// A decoder further behind than this skips to the next keyframe (asked for)
// instead of showing ever older frames.
const VIDEO_DECODE_QUEUE = 4;
const KEYFRAME_ASK_MS = 500; // the host serves a lost picture at most this often anyway
// WebRTC that has not connected this long after the answer went out is taken
// as blocked (UDP filtered): the page switches to WebSocket media.
export const ICE_CONNECT_MS = 6000;

export const socketMedia = {
  active: false,
  reason: '', // why the page uses it (shown in F3)
  decoder: null,
  waitKey: true, // the decoder needs a keyframe before any delta frame
  frames: 0, // frames drawn
  shown: false, // this stream's first frame was drawn
  bytes: 0,
  keyRequests: 0,
  askedAt: -Infinity,
  lastTs: -1, // the last frame's 90 kHz timestamp, and its running µs
  us: 0,
  rate: { at: 0, frames: 0, bytes: 0, fps: '–', kbps: '–' },
};
const canvas = $('screen-canvas');
const draw = canvas.getContext('2d');

// socketMediaSupported: this page can decode the game itself (a secure
// context: WebCodecs exists only there).
export function socketMediaSupported() {
  return typeof VideoDecoder === 'function' && typeof EncodedVideoChunk === 'function';
}

// unsupportedReason is the sentence a page shows when it can use neither
// WebRTC nor WebSocket media, naming what this browser lacks.
export function unsupportedReason() {
  const https = location.protocol === 'https:' ? '' : ` On this http:// page browsers hide WebCodecs: open the host's https:// address (couchplay --https) to play here.`;
  return 'This browser cannot play couchplay: it has no WebRTC (RTCPeerConnection) and no WebCodecs video decoder (VideoDecoder), ' +
    `one of which is needed.${https} Chrome, Edge, Firefox and Safari (16.4 or later) work.`;
}

// startSocketMedia runs when the host welcomed a join with media "websocket".
export function startSocketMedia(transport, reason) {
  const waiting = early;
  stopSocketMedia();
  socketMedia.active = true;
  socketMedia.reason = reason;
  socketMedia.waitKey = true;
  socketMedia.lastTs = -1;
  socketMedia.askedAt = -Infinity;
  socketMedia.shown = false;
  body.dataset.media = 'websocket';
  mark('socket-media');
  video.srcObject = null; // a WebRTC stream tried before this one
  // Input up the socket: input.js sends on session.channel, this stands in for the data channel.
  const ws = transport.socket;
  session.channel = {
    label: 'input',
    get readyState() { return ws.readyState === WebSocket.OPEN ? 'open' : 'closed'; },
    send(msg) { ws.send(msg); },
  };
  session.sent = '';
  session.sentBits = 0;
  flushInput();
  startSocketSound();
  checkVP8();
  if (padMode()) {
    mark('pad-ready');
    setState('playing');
    setStatus('');
  }
  // A decoder made now is ready by the time the keyframe comes (making one
  // costs the first frame tens of ms otherwise).
  if (!padMode()) newDecoder();
  for (const data of waiting) onSocketMedia(data);
}

export function stopSocketMedia() {
  early = [];
  if (!socketMedia.active) return;
  socketMedia.active = false;
  closeDecoder();
  closeFastChannel();
}

// A browser with WebCodecs may still lack a VP8 decoder (WebKitGTK decodes
// with GStreamer's vp8dec): then nothing here can play, and the page says so
// instead of asking for keyframes forever.
const NO_VP8 = () => `${typeof RTCPeerConnection === 'function' ? 'WebRTC could not connect here' : 'This browser has no WebRTC'}, ` +
  'and its WebCodecs cannot decode VP8 video, so it cannot show the game ' +
  '(on Linux, WebKitGTK decodes VP8 with GStreamer\'s vp8dec, in gstreamer1.0-plugins-good). ' +
  'Chrome, Edge, Firefox and Safari (16.4 or later) work.';
async function checkVP8() {
  if (padMode()) return; // no picture to decode
  try {
    if (!(await VideoDecoder.isConfigSupported({ codec: 'vp8' })).supported) cannotPlay();
  } catch (err) {
    console.warn('couchplay: VP8 support check', err);
  }
}

// cannotPlay gives the seat back (nothing here will ever show the game) and says why.
function cannotPlay() {
  session.transport?.leave();
  session.transport = null;
  fail(NO_VP8());
}

function closeDecoder() {
  const d = socketMedia.decoder;
  socketMedia.decoder = null;
  try { if (d && d.state !== 'closed') d.close(); } catch { /* closed */ }
}

// Media that came before the welcome was handled (the host sends the
// keyframe right after it; the page may still be loading): kept, and played
// once the welcome starts the stream, so the first frame is that keyframe,
// not one asked for again half a second later.
const EARLY_MAX = 120;
let early = [];

// onSocketMedia handles one binary message from the host.
export function onSocketMedia(data) {
  if (!socketMedia.active) {
    if (early.length < EARLY_MAX) early.push(data);
    return;
  }
  const b = new Uint8Array(data);
  if (b[0] === VIDEO_MESSAGE && b.length > VIDEO_HEADER) onVideo(b);
  else if (b[0] === AUDIO_MESSAGE) socketAudio(data);
}

function onVideo(b) {
  if (padMode()) return;
  const key = (b[1] & VIDEO_KEY) !== 0;
  const ts = (b[2] | (b[3] << 8) | (b[4] << 16) | (b[5] << 24)) >>> 0;
  // The decoder's timestamps are µs and must not wrap: unwrap the 32-bit clock.
  if (socketMedia.lastTs >= 0) socketMedia.us += Math.round((((ts - socketMedia.lastTs) >>> 0) * 1000) / 90);
  socketMedia.lastTs = ts;
  socketMedia.bytes += b.length;
  if (key && !socketMedia.shown) mark('socket-keyframe');
  const d = socketMedia.decoder ?? newDecoder();
  if (!d) return;
  if (!key && (socketMedia.waitKey || d.decodeQueueSize > VIDEO_DECODE_QUEUE)) {
    // Waiting for a keyframe that may never come on its own (the join's one
    // came before this page listened, or the decoder fell behind): ask, now and then.
    if (performance.now() - socketMedia.askedAt > KEYFRAME_ASK_MS) {
      askKeyframe(socketMedia.waitKey ? 'a delta frame without its keyframe' : 'the decoder fell behind');
    }
    return;
  }
  socketMedia.waitKey = false;
  try {
    d.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp: socketMedia.us, data: b.subarray(VIDEO_HEADER) }));
  } catch (err) {
    decoderFailed(err);
  }
}

function newDecoder() {
  const d = new VideoDecoder({
    output: (frame) => {
      if (socketMedia.decoder === d) drawFrame(frame);
      frame.close();
    },
    error: (err) => { if (socketMedia.decoder === d) decoderFailed(err); },
  });
  try {
    d.configure({ codec: 'vp8', optimizeForLatency: true });
  } catch (err) {
    console.warn('couchplay: VP8 decoder', err);
    return null;
  }
  socketMedia.decoder = d;
  socketMedia.waitKey = true;
  return d;
}

// A failed decoder is replaced by a new one, which starts on a keyframe the host is asked for.
function decoderFailed(err) {
  if (err?.name === 'NotSupportedError') {
    closeDecoder();
    cannotPlay();
    return;
  }
  console.warn(`couchplay: the video decoder failed (${err?.message ?? err}); asking for a keyframe`);
  closeDecoder();
  askKeyframe('decoder error');
}

function askKeyframe(why) {
  socketMedia.waitKey = true;
  socketMedia.keyRequests++;
  socketMedia.askedAt = performance.now();
  console.info(`couchplay: asking the host for a keyframe (${why})`);
  send({ type: MSG.keyframe });
}

function drawFrame(frame) {
  if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
    canvas.width = frame.displayWidth;
    canvas.height = frame.displayHeight;
  }
  draw.drawImage(frame, 0, 0);
  socketMedia.frames++;
  if (!socketMedia.shown) {
    socketMedia.shown = true;
    mark('first-frame');
    setState('playing');
    setStatus('');
  }
}

// socketMediaStats: frame rate, size and bit rate since the last call (F3).
export function socketMediaStats() {
  const r = socketMedia.rate, now = performance.now();
  if (r.at && now > r.at) {
    r.fps = String(Math.round(((socketMedia.frames - r.frames) * 1000) / (now - r.at)));
    r.kbps = String(Math.round(((socketMedia.bytes - r.bytes) * 8) / (now - r.at)));
  }
  r.at = now;
  r.frames = socketMedia.frames;
  r.bytes = socketMedia.bytes;
  return { fps: r.fps, kbps: r.kbps, resolution: canvas.width ? `${canvas.width}×${canvas.height}` : '–' };
}
