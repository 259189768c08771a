// The sound's adaptive jitter buffer (assets/jitter.js) on its own, no
// browser: packets of a 440 Hz tone arrive on a synthetic clock (steady,
// in the host's per-frame packets, jittery, lost, late, drifting) and
// the output pulls a render quantum at a time. The assertions are on the
// figures the buffer reports (stats()) and on the samples it plays, never on
// wall-clock time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterBuffer, QUANTUM_FRAMES, MAX_UNDERRUN_GROWTH_S } from '../assets/jitter.js';

const RATE = 48000;
const HOST_FRAME_S = 1 / 60; // the host sends a packet per emulated frame
const PACKET_FRAMES = RATE / 60; // 800 (16.7 ms): a frame's sound
const PACKET_S = PACKET_FRAMES / RATE;
const OPUS_FRAME = RATE / 400; // 2.5 ms: the host packs whole ones, the rest waits for the next frame
const QUANTUM_S = QUANTUM_FRAMES / RATE;
const GROWTH_MS = MAX_UNDERRUN_GROWTH_S * 1000; // the most one underrun adds to the target
const TRANSIT_S = 0.002; // loopback
const TONE_HZ = 440;
const AMPLITUDE = 0.5;
// The tone's own largest step from sample to sample; a click is far above it.
const TONE_STEP = AMPLITUDE * 2 * Math.sin(Math.PI * TONE_HZ / RATE);
const MAX_STEP = 2 * TONE_STEP;
const SILENT = 1e-3; // an RMS below this over SILENCE_WINDOW is silence
const SILENCE_WINDOW = RATE / 1000; // 1 ms: longer than a zero crossing of the tone
const STARTUP_S = 1; // the buffer learns the jitter first

const tone = (frame) => AMPLITUDE * Math.sin((2 * Math.PI * TONE_HZ * frame) / RATE);

// A deterministic generator for jitter draws (mulberry32).
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Arrival schedules: packet {index, start, frames} holds media frames
// [start, start + frames) and arrives at `at`. steady: each emulated frame's
// whole sound, the moment it is made.
const count = (seconds) => Math.round(seconds / PACKET_S);
const steady = (seconds, transit = TRANSIT_S) =>
  Array.from({ length: count(seconds) }, (_, i) => ({ index: i, start: i * PACKET_FRAMES, frames: PACKET_FRAMES, at: (i + 1) * PACKET_S + transit }));
// The host's real pattern (stream/writer.go): each frame sends its whole
// 2.5 ms Opus frames (6 or 7), the rest goes with the next frame.
function hostPattern(seconds, transit = TRANSIT_S) {
  const packets = [];
  let sent = 0;
  for (let f = 0; f < count(seconds); f++) {
    const whole = Math.floor(((f + 1) * PACKET_FRAMES) / OPUS_FRAME) * OPUS_FRAME;
    packets.push({ index: f, start: sent, frames: whole - sent, at: (f + 1) * HOST_FRAME_S + transit });
    sent = whole;
  }
  return packets;
}
// A Wi-Fi-like link (as internal/netem): delay ± jitter, uniform, in order.
function jittery(packets, delayS, jitterS, seed = 1, from = 0, to = Infinity) {
  const draw = random(seed);
  let last = 0;
  return packets.map((p) => {
    const media = p.start / RATE;
    if (media < from || media >= to) return p;
    const at = Math.max(last, p.at + delayS + (draw() * 2 - 1) * jitterS);
    last = at;
    return { ...p, at };
  });
}

// drive plays the schedule for seconds of output, one quantum at a time; the
// packets that arrived by a quantum are pushed just before it (as the worklet
// gets its messages between render quanta). Returns what was played and the
// buffer's figures every snapshotS.
function drive(buffer, packets, seconds, { snapshotS = 0.5 } = {}) {
  const out = [new Float32Array(QUANTUM_FRAMES)];
  const quanta = Math.round(seconds / QUANTUM_S);
  const played = new Float32Array(quanta * QUANTUM_FRAMES);
  const snapshots = [];
  const todo = [...packets].sort((a, b) => a.at - b.at);
  const perSnapshot = Math.round(snapshotS / QUANTUM_S);
  let next = 0;
  for (let q = 0; q < quanta; q++) {
    const now = q * QUANTUM_S;
    for (; next < todo.length && todo[next].at <= now; next++) {
      const p = todo[next];
      const plane = new Float32Array(p.frames);
      for (let k = 0; k < p.frames; k++) plane[k] = tone(p.start + k);
      buffer.push([plane], p.start / RATE, now, { recovered: p.recovered });
    }
    buffer.pull(out, QUANTUM_FRAMES, now);
    played.set(out[0], q * QUANTUM_FRAMES);
    if ((q + 1) % perSnapshot === 0) snapshots.push({ t: (q + 1) * QUANTUM_S, ...buffer.stats() });
  }
  return { played, snapshots, at: (t) => snapshots.find((s) => s.t >= t - 1e-9) };
}

const newBuffer = () => new JitterBuffer({ sampleRate: RATE, channels: 1 });

// Frames of output from a time on.
const after = (played, seconds) => played.subarray(Math.round(seconds * RATE));
function largestStep(samples) {
  let max = 0;
  for (let i = 1; i < samples.length; i++) max = Math.max(max, Math.abs(samples[i] - samples[i - 1]));
  return max;
}
// The longest silence, in ms: how long the RMS over the last SILENCE_WINDOW
// samples stays below SILENT (0: never).
function longestSilenceMs(samples) {
  let energy = 0;
  let run = 0;
  let longest = 0;
  for (let i = 0; i < samples.length; i++) {
    energy += samples[i] * samples[i];
    if (i >= SILENCE_WINDOW) energy -= samples[i - SILENCE_WINDOW] * samples[i - SILENCE_WINDOW];
    if (i < SILENCE_WINDOW - 1) continue;
    run = Math.sqrt(Math.max(0, energy) / SILENCE_WINDOW) < SILENT ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest && ((longest + SILENCE_WINDOW - 1) / RATE) * 1000;
}
// Sound only while the stream runs: the schedule's end drains the buffer.
const whileStreaming = (played, fromS, toS) => played.subarray(Math.round(fromS * RATE), Math.round(toS * RATE));

// What a calm stream settles at: the floor (MIN_TARGET_S, or the jitter of
// arriving between render quanta and one quantum, whichever is more).
const FLOOR_MS = 2 * QUANTUM_S * 1000;
const atFloor = (ms) => ms >= 4.95 && ms <= FLOOR_MS + 0.2;

test('steady arrival: no underrun, nothing dropped, a target at the floor, and a continuous tone', () => {
  const seconds = 10;
  const { played, snapshots } = drive(newBuffer(), steady(seconds), seconds - 0.1);
  const end = snapshots.at(-1);
  assert.equal(end.underruns, 0, JSON.stringify(end));
  assert.equal(end.gaps, 0);
  assert.equal(end.dropped, 0);
  assert.equal(end.concealedMs, 0);
  assert.ok(atFloor(end.targetMs), `target ${end.targetMs} ms: no more than the floor without jitter`);
  assert.ok(Math.abs(end.queuedMs - end.targetMs) < 1, `the level ${end.queuedMs} ms is at the target ${end.targetMs} ms`);
  assert.ok(Math.abs(end.rate - 1) < 1e-3, `plays at the rate it gets: ${end.rate}`);
  const tail = whileStreaming(played, STARTUP_S, seconds - 0.2);
  assert.ok(largestStep(tail) <= MAX_STEP, `largest step ${largestStep(tail)}`);
  assert.equal(longestSilenceMs(tail), 0);
});

test("the host's pattern (a frame's whole 2.5 ms Opus frames, the rest with the next) is measured as jitter, and then plays without an underrun", () => {
  const seconds = 20;
  const { snapshots, at } = drive(newBuffer(), hostPattern(seconds), seconds - 0.1);
  const learnt = at(STARTUP_S);
  const end = snapshots.at(-1);
  // A packet starts up to 2.5 ms earlier than its frame (the rest of the one
  // before), plus arriving between quanta: the target covers that, no more.
  assert.ok(end.jitterMs >= 2 && end.jitterMs <= 2.5 + QUANTUM_S * 1000 + 0.1, `jitter ${end.jitterMs} ms`);
  assert.ok(end.targetMs >= end.jitterMs + (QUANTUM_S * 1000) - 0.5 && end.targetMs <= 8, `target ${end.targetMs} ms`);
  assert.equal(end.underruns, learnt.underruns, `underruns after the first second: ${JSON.stringify({ learnt, end })}`);
  assert.equal(end.dropped, 0);
});

test('jitter makes the target grow to cover it', () => {
  const seconds = 12;
  const calmS = 4;
  const packets = jittery(steady(seconds), 0.01, 0.01, 7, calmS);
  const { at } = drive(newBuffer(), packets, seconds - 0.1);
  const calm = at(calmS);
  const jittered = at(seconds - 0.5);
  assert.ok(atFloor(calm.targetMs), `calm: target ${calm.targetMs} ms`);
  // 10 ± 10 ms: packets come up to 20 ms later than the earliest ones.
  assert.ok(jittered.jitterMs >= 15, `jitter measured ${jittered.jitterMs} ms`);
  assert.ok(jittered.targetMs >= jittered.jitterMs && jittered.targetMs <= 40, `target ${jittered.targetMs} ms`);
  assert.ok(Math.abs(jittered.queuedMs - jittered.targetMs) < 3, `the level ${jittered.queuedMs} ms follows the target ${jittered.targetMs} ms`);
  const late = at(seconds - 4);
  assert.ok(jittered.underruns - late.underruns <= 1, `underruns once the target is learnt: ${late.underruns} -> ${jittered.underruns}`);
  assert.equal(jittered.dropped, 0, 'steered, not dropped');
});

// Every packet due in [at, at + seconds) comes at its end (a Wi-Fi hiccup, a busy main thread).
const withStalls = (packets, stalls) => packets.map((p) => {
  const stall = stalls.find(([at, seconds]) => p.at >= at && p.at < at + seconds);
  return stall ? { ...p, at: stall[0] + stall[1] } : p;
});

test('an underrun grows the target at once, by 5 ms at most; repeated ones add up until covered; it shrinks back slowly after a calm spell', () => {
  const seconds = 50;
  const stallS = 0.03;
  const firstStall = 3.2;
  const stalls = Array.from({ length: 8 }, (_, i) => [firstStall + i / 2, stallS]);
  const lastStall = stalls.at(-1)[0];
  const { snapshots, at } = drive(newBuffer(), withStalls(steady(seconds), stalls), seconds - 0.1);
  const before = at(firstStall - 0.5);
  const first = at(firstStall + 0.25);
  assert.equal(before.underruns, 0);
  assert.equal(first.underruns, 1, JSON.stringify(first));
  assert.equal(first.targetMs, before.targetMs + GROWTH_MS, `one stall of ${stallS * 1000} ms: target ${before.targetMs} -> ${first.targetMs} ms`);
  // The rest of the wait was not kept as delay: the level is at the new target, not 20 ms above.
  assert.ok(Math.abs(first.queuedMs - first.targetMs) < 2, `level ${first.queuedMs} ms, target ${first.targetMs} ms`);
  // Each stall that still underruns adds up to GROWTH_MS, until the target covers the 30 ms wait.
  const covered = at(lastStall + 0.5);
  assert.ok(Math.abs(covered.targetMs - stallS * 1000) <= GROWTH_MS, `after the stalls: target ${covered.targetMs} ms`);
  assert.ok(covered.underruns >= 3 && covered.underruns < stalls.length, `the last stalls were covered: ${covered.underruns} underruns in ${stalls.length} stalls`);
  const end = snapshots.at(-1);
  assert.equal(end.underruns, covered.underruns);
  // Calm for two seconds after the last growth: no shrinking yet.
  const grownAt = firstStall + (covered.underruns - 1) / 2;
  assert.equal(at(grownAt + 2).targetMs, covered.targetMs);
  // Then a little at a time: about a millisecond a half second (the figures are rounded to 0.1 ms; at
  // the floor the jitter of arriving between quanta moves it by a few tenths).
  const shrinking = snapshots.filter((s) => s.t > grownAt + 2);
  for (let i = 1; i < shrinking.length; i++) {
    const step = shrinking[i - 1].targetMs - shrinking[i].targetMs;
    assert.ok(step >= -0.35 && step <= 1.15, `target ${shrinking[i - 1].targetMs} -> ${shrinking[i].targetMs} ms at ${shrinking[i].t} s`);
  }
  const middle = at(grownAt + 7);
  assert.ok(middle.targetMs < covered.targetMs - 5 && middle.targetMs > before.targetMs + 5, `halfway: ${middle.targetMs} ms`);
  assert.ok(atFloor(end.targetMs), `back to the floor once the link stays calm: ${end.targetMs} ms`);
  assert.ok(Math.abs(end.queuedMs - end.targetMs) < 1, `the level ${end.queuedMs} ms follows it down`);
  assert.equal(end.dropped, 0, 'the extra delay was played out faster, not dropped');
});

test('a few long stalls are not jitter: their bursts count once, and the target grows by the underruns alone', () => {
  const seconds = 6;
  const stallS = 0.08; // a busy main thread: 8 packets held, then all at once
  const stalls = [[3.2, stallS], [3.7, stallS], [4.2, stallS]];
  const { at } = drive(newBuffer(), withStalls(steady(seconds), stalls), seconds - 0.1);
  const before = at(3);
  const after = at(4.5);
  assert.equal(after.underruns - before.underruns, stalls.length, JSON.stringify(after));
  assert.ok(after.targetMs <= before.targetMs + stalls.length * GROWTH_MS + 0.1, `target ${before.targetMs} -> ${after.targetMs} ms, not the ${stallS * 1000} ms of a stall`);
  assert.ok(after.jitterMs < 5, `jitter ${after.jitterMs} ms`);
});

test('after a jittery spell the target shrinks again once the jitter stops, slowly', () => {
  const seconds = 50;
  const jitterTo = 6;
  const packets = jittery(steady(seconds), 0.02, 0.02, 3, 1, jitterTo);
  const { at } = drive(newBuffer(), packets, seconds - 0.1);
  const jittered = at(jitterTo);
  assert.ok(jittered.targetMs >= 25, `target over 20 ± 20 ms of jitter: ${jittered.targetMs} ms`);
  // The jitter window has forgotten the spell, the target has not: at most 2 ms a second.
  const forgotten = at(jitterTo + 2.5);
  assert.ok(forgotten.jitterMs < 5, `jitter measured ${forgotten.jitterMs} ms once calm`);
  assert.ok(forgotten.targetMs >= jittered.targetMs - 2.5 * 2 - 0.2, `not at once: ${jittered.targetMs} -> ${forgotten.targetMs} ms`);
  const later = at(jitterTo + 10);
  assert.ok(later.targetMs < jittered.targetMs - 10, `shrinking: ${jittered.targetMs} -> ${later.targetMs} ms`);
  assert.ok(atFloor(at(seconds - 0.5).targetMs));
});

test('a lost packet is concealed: the tone goes on, no silence and no click at either seam', () => {
  const seconds = 4;
  const lost = 120; // media 2.000-2.017 s
  const packets = hostPattern(seconds).filter((p) => p.index !== lost);
  const { played, snapshots, at } = drive(newBuffer(), packets, seconds - 0.1);
  const learnt = at(STARTUP_S);
  const end = snapshots.at(-1);
  assert.equal(end.gaps - learnt.gaps, 1, JSON.stringify({ learnt, end }));
  const concealed = end.concealedMs - learnt.concealedMs;
  assert.ok(concealed >= 12 && concealed <= 20, `concealed ${concealed} ms for a 15-17.5 ms packet`);
  const tail = whileStreaming(played, STARTUP_S, seconds - 0.2);
  assert.equal(longestSilenceMs(tail), 0, 'no silence where the packet was missing');
  assert.ok(largestStep(tail) <= MAX_STEP, `largest step ${largestStep(tail).toFixed(4)} (the tone's own is ${TONE_STEP.toFixed(4)})`);
});

test('a late packet (the queue runs dry) is concealed, fading out instead of stopping, and crossfades back', () => {
  const seconds = 4;
  const stallAt = 2;
  for (const stallS of [0.008, 0.015, 0.03, 0.06]) {
    const packets = withStalls(steady(seconds), [[stallAt, stallS]]);
    const { played, snapshots } = drive(newBuffer(), packets, seconds - 0.1);
    const end = snapshots.at(-1);
    assert.equal(end.underruns, 1, `${stallS * 1000} ms: ${JSON.stringify(end)}`);
    // Heard as a gap only when the stand-in played 10 ms or more (it has faded by 6 dB then).
    if (stallS <= 0.008) assert.equal(end.audible, 0, `${stallS * 1000} ms: a few ms carried on is no gap heard`);
    if (stallS >= 0.03) assert.equal(end.audible, 1, `${stallS * 1000} ms: ${JSON.stringify(end)}`);
    const tail = whileStreaming(played, STARTUP_S, seconds - 0.2);
    assert.ok(largestStep(tail) <= MAX_STEP, `${stallS * 1000} ms: largest step ${largestStep(tail).toFixed(4)}`);
    // The stand-in fades out over 20 ms: a shorter wait is never silent, a longer one only after that.
    const silentMs = longestSilenceMs(tail);
    const dryMs = stallS * 1000 - FLOOR_MS;
    assert.ok(silentMs <= Math.max(0, dryMs - 18), `${stallS * 1000} ms late: ${silentMs.toFixed(1)} ms silent`);
  }
});

test('a copy of a lost packet comes a packet late: one loss is concealed; while losses go on, the target covers how late the copies come and they are played; then it shrinks back', () => {
  const seconds = 36;
  // One loss at 3 s; then one every half second from 6 s to 12 s (3 % of 60 packets a second).
  const lost = new Set([180, ...Array.from({ length: 13 }, (_, i) => 360 + 30 * i)]);
  const all = steady(seconds);
  // The next packet brings the copy (the host sends each packet again in the next two messages).
  const packets = all.flatMap((p) => {
    if (lost.has(p.index)) return [];
    if (lost.has(p.index - 1)) return [{ ...all[p.index - 1], at: p.at, recovered: true }, p];
    return [p];
  });
  const { played, at } = drive(newBuffer(), packets, seconds - 0.1);
  const before = at(2.5);
  const single = at(4);
  assert.ok(single.targetMs <= before.targetMs + 0.5, `one loss is no reason to hold more: ${before.targetMs} -> ${single.targetMs} ms`);
  assert.ok(single.concealedMs - before.concealedMs >= 10, `its copy came too late: ${single.concealedMs - before.concealedMs} ms concealed`);
  // Lossy from the third loss (6.5 s) on: a packet more, and from then on the copies are played.
  const lossy = at(12);
  assert.ok(lossy.targetMs >= PACKET_S * 1000 + QUANTUM_S * 1000 - 0.5, `lossy: target ${lossy.targetMs} ms`);
  assert.ok(at(12.5).concealedMs - at(8).concealedMs < 1, `concealed while lossy: ${at(8).concealedMs} -> ${at(12.5).concealedMs} ms`);
  const end = at(seconds - 0.5);
  assert.ok(end.targetMs <= before.targetMs + 0.5, `back once the losses stopped: ${end.targetMs} ms`);
  assert.equal(end.dropped, 0);
  const tail = whileStreaming(played, STARTUP_S, seconds - 0.2);
  assert.equal(longestSilenceMs(tail), 0);
  assert.ok(largestStep(tail) <= MAX_STEP, `largest step ${largestStep(tail).toFixed(4)}`);
});

test('while losses go on and the resends (5 ms after their packet) bring them back, the target grows by the resend\'s delay, not a packet', () => {
  const seconds = 14;
  const resendS = 0.005;
  // One lost every half second from 3 s to 9 s; its resend comes 5 ms after it would have.
  const lost = new Set(Array.from({ length: 13 }, (_, i) => 180 + 30 * i));
  const packets = steady(seconds).map((p) => (lost.has(p.index) ? { ...p, at: p.at + resendS, recovered: true } : p));
  const { played, at } = drive(newBuffer(), packets, seconds - 0.1);
  const before = at(2.5);
  const lossy = at(9);
  assert.ok(lossy.targetMs >= before.targetMs + resendS * 1000 - 2.7 && lossy.targetMs <= before.targetMs + resendS * 1000 + 3,
    `lossy: target ${before.targetMs} -> ${lossy.targetMs} ms (the resends come ${resendS * 1000} ms late)`);
  assert.ok(at(9).concealedMs - at(5).concealedMs < 1, `concealed while lossy: ${at(5).concealedMs} -> ${at(9).concealedMs} ms`);
  const tail = whileStreaming(played, STARTUP_S, seconds - 0.2);
  assert.equal(longestSilenceMs(tail), 0);
});

test('a 0.5 % clock drift either way: the level converges to the target, the rate takes up the drift, nothing is dropped', () => {
  const seconds = 60;
  for (const drift of [0.005, -0.005]) {
    // The host's clock runs fast (slow): its packets come 0.5 % more (less) often on the output's clock.
    const packets = hostPattern(seconds).map((p) => ({ ...p, at: (p.at - TRANSIT_S) / (1 + drift) + TRANSIT_S }));
    const { snapshots, at } = drive(newBuffer(), packets, seconds / (1 + drift) - 0.2);
    const end = snapshots.at(-1);
    const learnt = at(10);
    assert.ok(Math.abs(end.queuedMs - end.targetMs) < 1, `drift ${drift}: level ${end.queuedMs} ms, target ${end.targetMs} ms`);
    assert.ok(Math.abs(end.rate - (1 + drift)) < 1e-3, `drift ${drift}: plays at ${end.rate}`);
    assert.equal(end.dropped, 0, `drift ${drift}: dropped ${end.dropped} frames`);
    assert.equal(end.underruns, learnt.underruns, `drift ${drift}: underruns once settled (${learnt.underruns} -> ${end.underruns})`);
    // The real queue stays put (no creeping delay): the same at 30 s and at the end.
    const mid = at(30);
    assert.ok(Math.abs(mid.targetMs - end.targetMs) < 1, `drift ${drift}: target ${mid.targetMs} -> ${end.targetMs} ms`);
  }
});

test('a burst after a stall builds no lasting delay: above the cap the oldest sound goes, then the level is steered back', () => {
  const seconds = 10;
  const stallAt = 3;
  const stallS = 0.3; // the host's writer stalled, then sent everything at once
  const packets = withStalls(hostPattern(seconds), [[stallAt, stallS]]);
  const { at } = drive(newBuffer(), packets, seconds - 0.1);
  const before = at(stallAt);
  const burst = at(stallAt + stallS + 0.5);
  assert.ok(burst.dropped > 0, 'the burst was trimmed');
  assert.ok(burst.queued / RATE * 1000 <= burst.targetMs + 40 + PACKET_S * 1000 * 2, `queued ${burst.queued / RATE * 1000} ms after the burst, target ${burst.targetMs} ms`);
  const settled = at(stallAt + stallS + 3);
  assert.ok(Math.abs(settled.queuedMs - settled.targetMs) < 2, `the level ${settled.queuedMs} ms back at the target ${settled.targetMs} ms`);
  assert.ok(settled.targetMs <= before.targetMs + 1, `a stall is no jitter: target ${before.targetMs} -> ${settled.targetMs} ms`);
});

test('a media timeline that jumps (the host restarted its clock) plays on from the new one', () => {
  const seconds = 6;
  // At 3 s the timestamps jump ahead by an hour.
  const packets = steady(seconds).map((p) => (p.index >= 180 ? { ...p, start: p.start + 3600 * RATE } : p));
  const { played, at } = drive(newBuffer(), packets, seconds - 0.1);
  const end = at(seconds - 0.5);
  assert.ok(end.underruns <= 1 && end.dropped === 0, JSON.stringify(end));
  assert.ok(atFloor(end.targetMs), `target ${end.targetMs} ms`);
  const tail = whileStreaming(played, 3.5, seconds - 0.2);
  assert.equal(longestSilenceMs(tail), 0);
});
