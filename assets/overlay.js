// couchplay web client: stats overlay.

import { $, STATS_INTERVAL_MS, body, session, video } from './page.js';
import { inputStats } from './input.js';
import { AUDIO_RATE, sound, soundStats, worklet } from './sound.js';
import { socketMedia, socketMediaStats } from './wsmedia.js';

let statsTimer = 0;

export function toggleStats() {
  const el = $('stats');
  el.hidden = !el.hidden;
  clearInterval(statsTimer);
  if (!el.hidden) {
    updateStats();
    statsTimer = setInterval(updateStats, STATS_INTERVAL_MS);
  }
}
$('stats-toggle').addEventListener('click', (ev) => { ev.currentTarget.blur(); toggleStats(); });

// The last counters per inbound stream, for rates and loss between two updates.
const lastInbound = {}; // kind -> {bytes, received, lost, ts}

// inboundDelta returns the received kbit/s and the loss (%) since the last update.
function inboundDelta(s) {
  const last = lastInbound[s.kind];
  lastInbound[s.kind] = { bytes: s.bytesReceived, received: s.packetsReceived, lost: s.packetsLost, ts: s.timestamp };
  if (!last || s.timestamp <= last.ts) return { kbps: '–', loss: '–' };
  const got = s.packetsReceived - last.received, lost = Math.max(0, s.packetsLost - last.lost);
  return {
    kbps: String(Math.round(((s.bytesReceived - last.bytes) * 8) / (s.timestamp - last.ts))),
    loss: got + lost > 0 ? `${((100 * lost) / (got + lost)).toFixed(1)} %` : '0 %',
  };
}

async function updateStats() {
  const lines = [];
  const pc = session.pc;
  let fps = '–', res = '–', rtt = '–', audio = '–', freezes = '–';
  let video = { kbps: '–', loss: '–' }, videoJitter = '–', audioJitter = '–', audioLoss = '–';
  if (pc) {
    const report = await pc.getStats();
    let pairId = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        if (s.framesPerSecond !== undefined) fps = String(Math.round(s.framesPerSecond));
        if (s.frameWidth) res = `${s.frameWidth}×${s.frameHeight}`;
        video = inboundDelta(s);
        if (s.jitter !== undefined) videoJitter = `${(s.jitter * 1000).toFixed(1)} ms`;
        if (s.freezeCount !== undefined) freezes = String(s.freezeCount);
      } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        audio = `${s.packetsReceived} pkts`;
        audioLoss = inboundDelta(s).loss;
        if (s.jitter !== undefined) audioJitter = `${(s.jitter * 1000).toFixed(1)} ms`;
      } else if (s.type === 'transport' && s.selectedCandidatePairId) {
        pairId = s.selectedCandidatePairId;
      }
    });
    const pair = pairId ? report.get(pairId) : [...report.values()].find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
    if (pair?.currentRoundTripTime !== undefined) rtt = `${(pair.currentRoundTripTime * 1000).toFixed(1)} ms`;
  }
  const b = sound.buffer;
  const frames = (n) => (n === undefined ? '–' : `${(n / AUDIO_RATE * 1000).toFixed(0)} ms`);
  lines.push(`media      ${body.dataset.media === 'websocket' ? `WebSocket (${socketMedia.reason}), ${socketMedia.keyRequests} keyframes asked` : 'WebRTC'}`);
  lines.push(`fps        ${fps}`);
  lines.push(`video      ${video.kbps} kbps, loss ${video.loss}, jitter ${videoJitter}, freezes ${freezes}`);
  lines.push(`resolution ${res}`);
  lines.push(`rtt        ${rtt}`);
  lines.push(`audio      ${audio}, loss ${audioLoss}, jitter ${audioJitter}`);
  lines.push(`sound      ${soundStats()}`);
  if (socketMedia.active) {
    const s = socketMediaStats();
    fps = s.fps;
    res = s.resolution;
    video = { kbps: s.kbps, loss: '0 % (TCP)' };
  }
  if (worklet()) {
    lines.push(`buffer     ${b.queuedMs !== undefined ? `${Math.round(b.queuedMs)} ms` : frames(b.queued)} (target ${b.targetMs !== undefined ? `${Math.round(b.targetMs)} ms` : frames(b.start)}), gaps ${b.gaps ?? b.underruns ?? 0} (${b.audible ?? 0} heard)`);
  }
  lines.push(`input      ${inputStats.changes} changes, ${inputStats.copies} copies, ${inputStats.repeats} repeats`);
  lines.push(`signalling ${body.dataset.signal}`);
  lines.push(`slot       ${body.dataset.slot ?? '–'}`);
  $('stats').textContent = lines.join('\n');
}
