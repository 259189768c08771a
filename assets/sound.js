// couchplay web client: sound over the audio data channel.

import { $, body, session, video } from './page.js';
import { mark } from './state.js';
import { padMode } from './view.js';
import { playVideo, unmute } from './media.js';

// DESIGN §3: Chrome plays an RTP audio track through NetEQ, which holds it
// 50-65 ms. Where the page can (index.html's couchplayFastAudio: a secure
// context with WebCodecs and AudioWorklet), its join asks for the same Opus
// packets over the 'audio' data channel too; they are decoded here and played
// through an adaptive jitter buffer (jitter.js, run by audio-worklet.js): it
// holds about the measured arrival jitter (one packet at least, and its
// figures go to the F3 overlay), steers its queue by playing up to 2 % faster
// or slower instead of dropping sound, and conceals what is missing instead
// of playing silence. The channel is unordered without retransmits, so on a
// link that loses sound each message also carries the two packets before it:
// when packet N comes and N-1 (and N-2) never did, their copies are decoded
// first and played (if they come after their time, what is left of them: the
// concealment stood in for the rest). The RTP
// track always comes as well: the <video> element plays it muted meanwhile,
// and with its sound if this path cannot start or fails, or while its
// channel is quiet (until its packets come again). Both paths
// play as early as they can, like the video (playout delay 0), so they stay
// in step with it.
export const AUDIO_LABEL = 'audio';
// (stream/audiochannel.go; little-endian, timestamps in 48 kHz samples)
// [type u8 = 0x04][seq u16][timestamp u32][count u8] count × [samples u16][length u16] [the count Opus packets]
// Packet 0 is seq's, from the timestamp; packet i is seq − i's, sent again,
// starting where packet i − 1 does less its own samples. Type 0x05 is the
// same message's packet 0 sent again 5 ms later, to a link that loses sound.
const AUDIO_MESSAGE = 0x04;
const AUDIO_RESEND = 0x05;
const AUDIO_HEADER = 8;
const AUDIO_ENTRY = 4;
const AUDIO_MAX_PACKETS = 3; // the new one and AudioRedundancy copies
const AUDIO_SEQ_HALF = 0x8000; // sequence numbers wrap at 16 bits: half ahead or more is behind
export const AUDIO_RATE = 48000;
const AUDIO_CHANNELS = 2; // the host encodes stereo (stream.opusChannels)
const AUDIO_DECODE_QUEUE = 10; // packets (100 ms); a decoder further behind skips packets
const AUDIO_START_MS = 3000; // connected and no packet by then: fall back
const AUDIO_STALL_MS = 1000; // no packet for this long while the RTP track has sound: fall back
const AUDIO_CHECK_MS = 500;
// socket: WebSocket media (wsmedia.js) brings the same messages on the
// signalling socket, played the same way; there is no RTP track to fall back to.
export const AUDIO_PATH = Object.freeze({ fast: 'datachannel', rtp: 'rtp', socket: 'websocket' });
// worklet: the sound heard is the worklet's (the fast path or WebSocket media), not the <video>'s.
export const worklet = () => sound.path === AUDIO_PATH.fast || sound.path === AUDIO_PATH.socket;

const OPUS_CONFIG = { codec: 'opus', sampleRate: AUDIO_RATE, numberOfChannels: AUDIO_CHANNELS };

export const sound = {
  path: window.couchplayFastAudio?.() ? AUDIO_PATH.fast : AUDIO_PATH.rtp,
  fallback: '', // why the page left the fast path
  ctx: null, node: null, output: null, // one AudioContext per page: it is unlocked once
  channel: null, decoder: null, // per stream
  // What each decode is, in decode order: {mediaTime (s), recovered}. The
  // decoder's own output timestamps run on from the first one across lost
  // packets, so the buffer gets the packets' media times from here.
  decoding: [],
  lastSeq: -1, lastAt: 0, connectedAt: 0, rtpPackets: 0,
  packets: 0, late: 0, decoded: 0,
  // Sequence numbers whose first sending never came; of them, decoded from a
  // resend or a later message's copy; and resends that came after the first sending.
  lost: 0, recovered: 0, resent: 0,
  stalled: false, // the channel went quiet: the RTP track plays until it brings a packet again
  buffer: {}, // the jitter buffer's last figures (jitter.js stats())
};
body.dataset.audio = sound.path;

// The context and the worklet, made when the first audio channel opens.
async function audioOutput() {
  if (sound.node) return;
  if (!sound.ctx) {
    sound.ctx = new AudioContext({ sampleRate: AUDIO_RATE, latencyHint: 'interactive' });
    // Suspended: autoplay with sound was refused, a tap resumes it (unmute).
    // It may also start a moment later by itself, and iOS suspends it in the background.
    const showTap = () => {
      if (!worklet()) return;
      $('unmute').hidden = sound.ctx.state === 'running' || padMode();
    };
    sound.ctx.addEventListener('statechange', showTap);
    showTap();
  }
  // The worklet gets PCM at the packets' rate: a context that runs at another one would play it at the wrong speed.
  if (sound.ctx.sampleRate !== AUDIO_RATE) throw new Error(`the audio output runs at ${sound.ctx.sampleRate} Hz`);
  await sound.ctx.audioWorklet.addModule(new URL('audio-worklet.js', import.meta.url));
  if (sound.node) return;
  const node = new AudioWorkletNode(sound.ctx, 'couchplay-jitter', {
    numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [AUDIO_CHANNELS],
    processorOptions: { channels: AUDIO_CHANNELS },
  });
  node.port.onmessage = ({ data }) => { sound.buffer = { ...data, lost: sound.lost, recovered: sound.recovered }; };
  sound.output = sound.ctx.createGain();
  node.connect(sound.output).connect(sound.ctx.destination);
  sound.node = node;
}

export async function openFastChannel(ch) {
  if (sound.stalled) resumeFastPath(); // a new stream starts over
  if (sound.path !== AUDIO_PATH.fast) { ch.close(); return; } // the host stops sending
  ch.binaryType = 'arraybuffer';
  closeFastChannel();
  sound.channel = ch;
  const started = await startDecoding(ch,
    (err) => fallBackToRTP(`the fast audio path cannot start: ${err.message}`),
    (err) => fallBackToRTP(`the Opus decoder failed: ${err.message}`));
  if (!started) return;
  ch.onmessage = (ev) => { if (sound.channel === ch) onAudioMessage(ev.data); };
  ch.onclose = () => { if (sound.channel === ch) sound.channel = null; };
}

// startSocketSound readies the worklet and a decoder for WebSocket media's
// sound (socketAudio). Without them the game plays silent, and F3 says why.
export async function startSocketSound() {
  const stream = { close() {} }; // stands for the socket's sound in sound.channel
  closeFastChannel();
  sound.channel = stream;
  sound.path = AUDIO_PATH.socket;
  sound.fallback = '';
  sound.stalled = false;
  body.dataset.audio = sound.path;
  const silent = (why) => {
    sound.decoder = null;
    sound.fallback = `no sound: ${why}`;
    console.warn(`couchplay: WebSocket media plays without sound: ${why}`);
  };
  if (typeof AudioDecoder !== 'function' || typeof AudioWorkletNode !== 'function') {
    silent('this browser has no AudioDecoder or AudioWorklet');
    return;
  }
  await startDecoding(stream, (err) => silent(err.message), (err) => silent(`the Opus decoder failed: ${err.message}`));
}

// startDecoding readies the worklet and an Opus decoder for the stream that
// owner stands for in sound.channel (the audio channel, or the socket's
// sound); cannotStart(err) hears why it could not, failed(err) why the
// decoder failed later. It reports whether this stream's decoder runs.
async function startDecoding(owner, cannotStart, failed) {
  try {
    await audioOutput();
    if (!(await AudioDecoder.isConfigSupported(OPUS_CONFIG)).supported) throw new Error('this browser cannot decode Opus');
  } catch (err) {
    cannotStart(err);
    return false;
  }
  if (sound.channel !== owner) return false; // a newer stream took over meanwhile
  const decoder = new AudioDecoder({
    output: (data) => playDecoded(data),
    error: (err) => { if (sound.decoder === decoder) failed(err); },
  });
  decoder.configure(OPUS_CONFIG);
  sound.decoder = decoder;
  return true;
}

// socketAudio plays one audio message that came on the WebSocket.
export function socketAudio(data) {
  if (sound.path === AUDIO_PATH.socket) onAudioMessage(data);
}

// parseAudioMessage reads an audio message into {seq, packets: [{ts, data}]},
// packets[i] being seq − i's. Null if malformed.
function parseAudioMessage(b) {
  if ((b[0] !== AUDIO_MESSAGE && b[0] !== AUDIO_RESEND) || b.length < AUDIO_HEADER) return null;
  const count = b[7];
  let at = AUDIO_HEADER + count * AUDIO_ENTRY;
  if (count === 0 || count > AUDIO_MAX_PACKETS || b.length < at) return null;
  const seq = b[1] | (b[2] << 8);
  let ts = (b[3] | (b[4] << 8) | (b[5] << 16) | (b[6] << 24)) >>> 0;
  const packets = [];
  for (let i = 0; i < count; i++) {
    const row = AUDIO_HEADER + i * AUDIO_ENTRY;
    const samples = b[row] | (b[row + 1] << 8);
    const length = b[row + 2] | (b[row + 3] << 8);
    if (!samples || !length || at + length > b.length) return null;
    if (i > 0) ts = (ts - samples) >>> 0;
    packets.push({ ts, data: b.subarray(at, at + length) });
    at += length;
  }
  return at === b.length ? { seq, packets, resend: b[0] === AUDIO_RESEND } : null;
}

function onAudioMessage(data) {
  const m = parseAudioMessage(new Uint8Array(data));
  if (!m || !sound.decoder) return;
  if (sound.stalled) resumeFastPath();
  // The channel is unordered: a packet not after the newest one is late (or a duplicate) and dropped.
  const ahead = (m.seq - sound.lastSeq) & 0xffff;
  if (sound.lastSeq >= 0 && ahead === 0 && m.resend) { sound.resent++; return; } // the first sending came
  if (sound.lastSeq >= 0 && (ahead === 0 || ahead >= AUDIO_SEQ_HALF)) { sound.late++; return; }
  const missed = sound.lastSeq >= 0 ? ahead - 1 : 0; // sequence numbers that never came before this one
  sound.lastSeq = m.seq;
  sound.lastAt = performance.now();
  sound.packets++;
  sound.lost += missed;
  if (sound.decoder.state !== 'configured' || sound.decoder.decodeQueueSize > AUDIO_DECODE_QUEUE) { sound.late++; return; }
  // The ones that never came ride in this message as copies: decoded first,
  // oldest first (the decoder keeps state from packet to packet).
  for (let i = Math.min(missed, m.packets.length - 1); i >= 1; i--) {
    decodeAudio(m.packets[i].data, m.packets[i].ts, true);
    sound.recovered++;
  }
  // A resend that came first: the first sending was lost, and this is its recovery.
  if (m.resend) { sound.lost++; sound.recovered++; }
  decodeAudio(m.packets[0].data, m.packets[0].ts, m.resend);
}

function decodeAudio(packet, ts, recovered) {
  sound.decoding.push({ mediaTime: ts / AUDIO_RATE, recovered });
  sound.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: Math.round(ts * 1e6 / AUDIO_RATE), data: packet }));
}

function playDecoded(data) {
  const packet = sound.decoding.shift(); // one output per Opus packet, in decode order
  try {
    if (!worklet() || !sound.node) return;
    const planes = [];
    for (let c = 0; c < data.numberOfChannels; c++) {
      const plane = new Float32Array(data.numberOfFrames);
      data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
      planes.push(plane);
    }
    const mediaTime = packet?.mediaTime ?? data.timestamp / 1e6;
    sound.node.port.postMessage({ planes, mediaTime, recovered: packet?.recovered ?? false }, planes.map((p) => p.buffer));
    if (sound.decoded++ === 0) mark('fast-audio');
  } catch (err) {
    fallBackToRTP(`cannot read the decoded sound: ${err.message}`);
  } finally {
    data.close();
  }
}

export function closeFastChannel() {
  const { channel, decoder } = sound;
  sound.channel = null;
  sound.decoder = null;
  sound.decoding = [];
  sound.lastSeq = -1;
  sound.lastAt = 0;
  sound.connectedAt = 0;
  try { if (decoder && decoder.state !== 'closed') decoder.close(); } catch { /* closed */ }
  try { channel?.close(); } catch { /* closed */ }
}

// fallBackToRTP plays the RTP track's sound from now on, also after a rejoin
// (its join no longer asks for the channel), and says why.
function fallBackToRTP(reason) {
  if (sound.path !== AUDIO_PATH.fast && !sound.stalled) return;
  sound.stalled = false;
  window.couchplayAudioFallback = true;
  closeFastChannel();
  playRTP(reason, 'playing the sound of the RTP audio track instead');
}

// playRTP makes the RTP track's sound the one heard, and says why. Unmuting
// without a gesture would pause the video where autoplay with sound is not
// allowed: then the "Tap for sound" button does it.
function playRTP(reason, meanwhile) {
  sound.path = AUDIO_PATH.rtp;
  sound.fallback = reason;
  body.dataset.audio = sound.path;
  console.warn(`couchplay: ${reason}; ${meanwhile}`);
  if (!video.srcObject) return; // attach plays it with sound
  if (sound.ctx?.state === 'running' || navigator.userActivation?.hasBeenActive) {
    playVideo();
  } else if (!padMode()) {
    $('unmute').hidden = false;
  }
}

// coverStall plays the RTP track's sound while the channel is quiet (a burst
// of loss can hold SCTP back for a second), and keeps the channel: its next
// packet brings the fast path back (onAudioMessage). A channel that never
// came, or a decoder that failed, is given up for good (fallBackToRTP).
function coverStall(reason) {
  if (sound.path !== AUDIO_PATH.fast) return;
  sound.stalled = true;
  playRTP(reason, 'playing the RTP audio track until it comes back');
}

// resumeFastPath: the quiet channel brought a packet again.
function resumeFastPath() {
  sound.stalled = false;
  sound.path = AUDIO_PATH.fast;
  sound.fallback = '';
  body.dataset.audio = sound.path;
  sound.connectedAt = 0;
  console.info('couchplay: the audio data channel is back; playing its sound again');
  if (video.srcObject) playVideo(); // muted: the sound is the channel's again
}

// The fast path is given up when its packets stop (or never come) while the
// RTP track still brings sound; when neither does (a crashed game, a dead
// connection) there is nothing better to switch to.
async function checkFastAudio() {
  const pc = session.pc;
  if (sound.path !== AUDIO_PATH.fast || !pc || pc.connectionState !== 'connected') return;
  const now = performance.now();
  sound.connectedAt ||= now;
  let rtp = 0;
  (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') rtp = s.packetsReceived; });
  const flowing = rtp > sound.rtpPackets;
  sound.rtpPackets = rtp;
  if (!flowing || pc !== session.pc || sound.path !== AUDIO_PATH.fast) return;
  if (!sound.lastAt && now - sound.connectedAt > AUDIO_START_MS) {
    fallBackToRTP(sound.channel ? 'no packet came on the audio data channel' : 'the host opened no audio data channel');
  } else if (sound.lastAt && now - sound.lastAt > AUDIO_STALL_MS) {
    coverStall(`no packet on the audio data channel for ${AUDIO_STALL_MS} ms`);
  }
}
if (sound.path === AUDIO_PATH.fast) setInterval(checkFastAudio, AUDIO_CHECK_MS);

// iOS suspends the context when the page is hidden; back in view it may resume.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && sound.ctx && sound.ctx.state !== 'running') sound.ctx.resume().catch(() => {});
});

export function soundStats() {
  if (sound.path === AUDIO_PATH.socket && !sound.decoder) return `WebSocket (${sound.fallback || 'starting'})`;
  if (!worklet()) return sound.fallback ? `RTP track (fallback: ${sound.fallback})` : 'RTP track';
  const b = sound.buffer;
  const rate = b.rate === undefined ? '–' : `${b.rate >= 1 ? '+' : ''}${((b.rate - 1) * 100).toFixed(2)} %`;
  const via = sound.path === AUDIO_PATH.socket ? 'WebSocket' : 'data channel';
  return `${via} + WebCodecs, ${b.underruns ?? 0} underruns, ${b.concealedMs ?? 0} ms concealed, `
    + `${sound.lost} lost / ${sound.recovered} recovered, ${sound.late} late, rate ${rate}, ${sound.ctx?.state ?? 'no context'}`;
}
