// couchplay's adaptive jitter buffer for the sound of the audio data channel
// (DESIGN §3). A plain ES module with no Web Audio in it: audio-worklet.js
// runs it on the render thread, and e2e/jitter.test.mjs drives it with a
// synthetic clock.
//
// What comes in: decoded Opus packets (48 kHz), each with its media time
// (from the packet's timestamp) and its arrival time. The host sends one per
// emulated frame: its whole 2.5 ms Opus frames, 15 or 17.5 ms at 60 fps.
//
// How much it holds (the target): the measured arrival jitter — a high
// percentile, over the last couple of seconds of arrivals (the packets that
// come together count once), of the transit (arrival − media time) less the
// least transit seen — plus a render quantum, never less than MIN_TARGET_S
// (the packet's length does not matter: the level is what is left when the
// next one comes). Until it has measured, it holds START_TARGET_S. It grows
// at once when the jitter does, and on an underrun by what would have
// covered it, up to 5 ms each
// time (one long wait — a busy main thread, a Wi-Fi hiccup — is not worth
// holding its length for good; repeated ones add up). It shrinks slowly, a little
// each second, only after a calm spell. A redundant copy of a lost packet
// (sound.js) is no jitter, but it comes late: a resend 5 ms after its
// packet, a copy with the next packet or the one after. While packets are
// being lost (LOSSY_COUNT in LOSS_WINDOW_S) the target also covers how late
// the recovered ones came (RECOVERY_PERCENTILE of them), so they come in time
// to be played instead of concealed; once the losses stop it shrinks back.
//
// What it steers: "the level", the sound queued when a packet arrives,
// corrected by how late that packet is (queued + its transit − the least
// transit). Bursts and jitter do not move it; only the buffer's own delay
// does. Playback reads the queue at a fractional position with linear
// interpolation, slightly faster or slower (within ±MAX_RATE_DEVIATION) until
// the level is at the target: no clicks, and a clock drift between the host
// and the audio device is absorbed on the way (the integral term). Sound is
// dropped only above a cap that follows the target (target + CAP_MARGIN_S),
// so a burst after a stall never builds lasting delay.
//
// Concealment: when the queue runs dry, or a packet is missing from the media
// timeline (lost on the unordered, no-retransmit channel), it does not play
// silence: it repeats the last pitch period of what it played (found by
// autocorrelation in the last ~10 ms; conceal.js), fading it out over 20 ms, and
// crossfades back into the real sound when that comes. A missing packet is
// concealed in its place, so the timeline stays whole; after a dry spell the
// delay grows only by what the target did, and the rest of the wait is cut
// from the start of the sound that comes (the concealment stood in for it).

import { Concealer, fadeIn } from './conceal.js';

export const QUANTUM_FRAMES = 128; // the Web Audio render quantum

const DEFAULT_SAMPLE_RATE = 48000;
const DEFAULT_CHANNELS = 2;

// The target.
const JITTER_WINDOW_S = 2; // arrivals the jitter is measured over
const LEAST_TRANSIT_WINDOW_S = 0.5; // the reference transit: shorter, so a clock drift inflates it little
const JITTER_PERCENTILE = 0.95;
// Fewer arrivals than this (packets that come together count once) say
// little: a stream's first ones come late (decoder start-up, a backlog), and
// a percentile of a few is their maximum.
const JITTER_MIN_ARRIVALS = 50;
const MIN_TARGET_S = 0.005; // a render quantum and a little: the least a packet may be late
const START_TARGET_S = 0.02; // until the jitter is measured
const MAX_TARGET_S = 0.08; // more than this is no use to a game
// The most one underrun adds to the target: 5 ms. Simulated with the host's
// (then 10 ms) packets and a main thread busy for 10-50 ms every few seconds
// (as headless Chromium is), the sound came 39 ms after its media time
// (median) at 10 ms, 32 ms at 5 ms, 25 ms with no growth but twice the
// underruns.
export const MAX_UNDERRUN_GROWTH_S = 0.005;
const CALM_S = 2; // no growth nor underrun for this long before the target shrinks
// Lossy: this many packets lost (a copy came, or a hole was concealed) in the window.
const LOSS_WINDOW_S = 10;
const LOSSY_COUNT = 3;
// Of the recovered packets, how many the target must bring in time: most
// come with the resend; a loss of both sendings waits a packet more, which
// is worth holding only when it is common (bursts of loss).
const RECOVERY_PERCENTILE = 0.9;
const SHRINK_S_PER_S = 0.002; // then it shrinks 2 ms a second
// The cap: a level this far above the target drops the oldest sound down to the target.
const CAP_MARGIN_S = 0.04;

// Rate steering, a PI controller on level − target (seconds of sound):
// rate = 1 + RATE_GAIN·error + drift, drift' = DRIFT_GAIN·error. Critically
// damped (RATE_GAIN² = 4·DRIFT_GAIN): a 10 ms error plays 2 % fast, and a
// steady clock drift is taken up in a few seconds.
const MAX_RATE_DEVIATION = 0.02;
const MAX_DRIFT = 0.01;
const RATE_GAIN = 2; // per second of error
const DRIFT_GAIN = 1; // per second of error, per second
const DRIFT_ERROR_BAND_S = 0.002; // the most error the drift term integrates (anti-windup)
const LEVEL_SMOOTHING = 0.2; // weight of a new level sample (one a packet)

// Holes and stalls.
const MAX_HOLE_S = 0.1; // a longer stretch missing is not filled in: the sound goes on from the next packet
const STALL_S = 0.1; // dry this long: a stall, not jitter; the next packet starts afresh
// A transit this far from the recent ones is no jitter: the host's clock stood
// still (a paused game) or jumped. The transit statistics start over.
const CLOCK_JUMP_S = MAX_TARGET_S + CAP_MARGIN_S;

// Concealment (conceal.js makes the stand-in).
// A stand-in this long is heard as a gap (by then it has faded by 6 dB);
// a shorter one carries the sound on with little change.
const AUDIBLE_S = 0.01;
const CROSSFADE_S = 0.0025; // back into the real sound, or out of a dropped stretch

const RING_FRAMES = 1 << 16; // 1.4 s: well above the cap plus the longest hole
const RING_MASK = RING_FRAMES - 1;

const State = Object.freeze({ idle: 'idle', playing: 'playing', dry: 'dry' });

// JitterBuffer: push() what the decoder gives, pull() what the output needs.
// Times are seconds: mediaTime on the host's clock (the packet timestamp),
// now on the clock that pulls the sound (the AudioContext's currentTime).
export class JitterBuffer {
  constructor({ sampleRate = DEFAULT_SAMPLE_RATE, channels = DEFAULT_CHANNELS } = {}) {
    this.sampleRate = sampleRate;
    const frames = (s) => Math.round(s * sampleRate);
    this.minTarget = Math.max(QUANTUM_FRAMES, frames(MIN_TARGET_S));
    this.maxTarget = Math.max(this.minTarget, frames(MAX_TARGET_S));
    this.capMargin = frames(CAP_MARGIN_S);
    this.maxHole = frames(MAX_HOLE_S);
    this.stallFrames = frames(STALL_S);
    this.audibleFrames = frames(AUDIBLE_S);
    this.maxGrowth = frames(MAX_UNDERRUN_GROWTH_S);
    this.crossfade = frames(CROSSFADE_S);
    this.ring = Array.from({ length: channels }, () => new Float32Array(RING_FRAMES));
    this.concealer = new Concealer(channels, sampleRate, RING_MASK);

    this.state = State.idle;
    this.writeEnd = 0; // frames written, ever (the ring index is writeEnd & RING_MASK)
    this.readPos = 0; // fractional frame position of the next frame played
    this.valid = 0; // frames before writeEnd that hold this stream's sound
    this.nextMedia = 0; // media frame just after the last packet
    this.dryFrames = 0; // concealment the reader made in this dry spell
    this.dryGrowth = 0; // and what the spell added to the target (frames)
    this.dryHeard = 0; // concealment played in this spell (dryFrames is also cut by what comes late)
    this.dryCounted = false; // the spell counted as audible
    this.fadePos = 0; // a dropped stretch still fading out: its read position
    this.fadeLeft = 0; // and the frames of crossfade left

    this.startTarget = Math.max(this.minTarget, frames(START_TARGET_S));
    this.target = this.startTarget; // frames
    this.measured = false; // the jitter has been measured once
    this.jitter = 0; // frames: the percentile of lateness
    this.jitterTarget = this.minTarget; // what the jitter alone asks for
    this.level = null; // smoothed, frames; null: take the next sample as it is
    this.drift = 0;
    this.rate = 1;
    this.arrivals = []; // {at, transit, late} in seconds, over the last JITTER_WINDOW_S
    this.losses = []; // when packets were lost, over the last LOSS_WINDOW_S
    this.recoveries = []; // {at, late} of the recovered packets (seconds), over the last LOSS_WINDOW_S
    this.calmSince = 0;
    this.updatedAt = null;
    this.lastArrival = null;

    this.underruns = 0; // the queue ran dry
    this.holes = 0; // a missing stretch of the media timeline was concealed
    this.audible = 0; // of the underruns and holes, the ones concealed for AUDIBLE_S or more
    this.stalls = 0; // dry for longer than STALL_S
    this.concealed = 0; // frames of concealment played or queued
    this.dropped = 0; // frames dropped above the cap
    this.expired = 0; // packets for a time already played (duplicates, reordered, a redundant copy too late)
  }

  // push queues one decoded packet: planes is one Float32Array per channel.
  // recovered: a redundant copy that came with the next packet; its arrival
  // says nothing about the network's jitter, so it is not measured, and it
  // never makes the buffer hold more.
  push(planes, mediaTime, now, { recovered = false } = {}) {
    const n = planes?.[0]?.length ?? 0;
    if (!n) return;
    this.tick(now);
    const media = Math.round(mediaTime * this.sampleRate);
    const transit = now - media / this.sampleRate;
    if (this.clockJumped(transit)) this.arrivals.length = 0;
    // How late this packet is, against the earliest recent ones (frames).
    const late = (transit - this.measure(now, transit, recovered)) * this.sampleRate;
    if (recovered) {
      this.recoveries.push({ at: now, late: late / this.sampleRate });
      this.lost(now);
    }
    const wasDry = this.state === State.dry;
    let skip = 0; // frames of this packet already past
    if (this.state === State.idle) {
      this.start(now);
      this.refill(late);
    } else {
      const hole = media - this.nextMedia;
      if (Math.abs(hole) > this.maxHole) {
        this.resync();
        this.refill(late);
      } else if (hole <= -n / 2) {
        this.expired++;
        return;
      } else if (wasDry) {
        skip = this.endDrySpell(Math.max(0, hole), late, n, now, recovered);
        if (skip >= n) {
          this.nextMedia = media + n;
          return;
        }
      } else if (hole >= n / 2) {
        // Lost on the way: concealed in its place, so the timeline stays whole.
        this.holes++;
        if (hole >= this.audibleFrames) this.audible++;
        this.lost(now);
        this.concealer.begin(this.ring, this.writeEnd, this.valid);
        this.conceal(hole);
      }
    }
    // The level this packet finds, as if it had come with the least transit.
    const levelSample = this.writeEnd - this.readPos + late - skip;
    // After a dry spell or a new start the level really jumped: no smoothing then.
    const exact = wasDry || this.level === null;
    this.level = exact ? levelSample : this.level + LEVEL_SMOOTHING * (levelSample - this.level);
    this.steer(now);
    this.write(planes, n, skip);
    this.nextMedia = media + n;
    if (levelSample > this.target + this.capMargin) this.drop(levelSample - this.target);
  }

  // start begins a stream, from silence.
  start(now) {
    this.readPos = this.writeEnd;
    this.fadeLeft = 0;
    this.valid = 0;
    this.concealer.begin(this.ring, this.writeEnd, this.valid); // nothing to repeat: silence
    this.calmSince = now;
    this.lastArrival = null;
    this.state = State.playing;
  }

  // resync goes on from a packet far from the previous one in media time (a
  // long loss, or the host's clock jumped or wrapped): nothing is filled in
  // for the time between, the sound fades into the new one.
  resync() {
    if (this.state === State.dry) {
      this.dryFrames = 0;
      this.state = State.playing;
    } else {
      this.concealer.begin(this.ring, this.writeEnd, this.valid);
    }
  }

  // refill brings the queue up to the target after a start or a resync (the
  // stand-in fading out, then silence), so the level is right at once.
  refill(late) {
    const pad = Math.round(this.target - (this.writeEnd - this.readPos + late));
    if (pad > 0) this.conceal(pad, { counted: false });
    this.level = null;
  }

  // endDrySpell: the reader stood in for dryFrames while it waited, and a
  // packet came, hole frames after the last one, late frames late. The
  // target grows at once to what would have covered it, by at most
  // MAX_UNDERRUN_GROWTH_S an underrun: a single long wait (a busy main thread,
  // a Wi-Fi hiccup) is not worth holding for good, repeated ones add up. A
  // redundant copy grows nothing: a loss is no jitter. The delay grows by as
  // much as the target did in this spell; the rest of the wait is taken out
  // of the start of the sound that comes, which the concealment already stood
  // in for. Returns the frames of this packet to skip (n: it is wholly past,
  // and the spell goes on for the next one).
  endDrySpell(hole, late, n, now, recovered) {
    const growth = recovered ? 0 : Math.min(this.maxGrowth - this.dryGrowth, Math.max(0, late + QUANTUM_FRAMES - this.target));
    if (growth > 0) {
      this.grow(this.target + growth, now);
      this.dryGrowth += growth;
    }
    const skip = Math.max(0, Math.round(this.dryFrames - hole - this.dryGrowth));
    if (skip >= n) {
      this.dryFrames -= hole + n;
      this.expired++;
      return n;
    }
    if (hole > this.dryFrames) this.conceal(hole - this.dryFrames); // the rest of a hole
    this.dryFrames = 0;
    this.state = State.playing;
    return skip;
  }

  clockJumped(transit) {
    let least = Infinity;
    for (const x of this.arrivals) least = Math.min(least, x.transit);
    return least !== Infinity && Math.abs(transit - least) > CLOCK_JUMP_S;
  }

  // measure records the arrival and returns the least transit over the window.
  measure(now, transit, recovered) {
    const a = this.arrivals;
    while (a.length && a[0].at < now - JITTER_WINDOW_S) a.shift();
    let least = transit;
    for (const x of a) if (x.at >= now - LEAST_TRANSIT_WINDOW_S) least = Math.min(least, x.transit);
    if (recovered) return least;
    // Packets that come together are one arrival, as late as the latest of
    // them: a stall's burst is one event (the underrun path deals with it),
    // not a tenth of the window.
    const last = a.at(-1);
    if (last?.at === now) {
      last.transit = Math.min(last.transit, transit);
      last.late = Math.max(last.late, transit - least);
    } else {
      a.push({ at: now, transit, late: transit - least });
    }
    if (a.length < JITTER_MIN_ARRIVALS) return least;
    const late = a.map((x) => x.late).sort((x, y) => x - y);
    this.jitter = late[Math.min(late.length - 1, Math.floor(JITTER_PERCENTILE * late.length))] * this.sampleRate;
    this.updateJitterTarget(now);
    return least;
  }

  // updateJitterTarget sets what the jitter (and the losses) ask for, and
  // grows the target to it.
  updateJitterTarget(now) {
    while (this.losses.length && this.losses[0] < now - LOSS_WINDOW_S) this.losses.shift();
    while (this.recoveries.length && this.recoveries[0].at < now - LOSS_WINDOW_S) this.recoveries.shift();
    let late = this.jitter;
    if (this.losses.length >= LOSSY_COUNT && this.recoveries.length) {
      const r = this.recoveries.map((x) => x.late).sort((x, y) => x - y);
      late = Math.max(late, r[Math.min(r.length - 1, Math.floor(RECOVERY_PERCENTILE * r.length))] * this.sampleRate);
    }
    this.jitterTarget = Math.min(this.maxTarget, Math.max(this.minTarget, late + QUANTUM_FRAMES));
    if (!this.measured) {
      // The first measurement replaces START_TARGET_S, a guess, either way
      // (and underruns meanwhile grew it: they still count).
      this.measured = true;
      this.target = Math.max(this.jitterTarget, this.target - this.startTarget + this.minTarget);
      this.calmSince = now;
    } else if (this.jitterTarget > this.target) this.grow(this.jitterTarget, now);
  }

  // lost records a lost packet; the target may have to cover copies now.
  lost(now) {
    this.losses.push(now);
    if (this.measured) this.updateJitterTarget(now);
  }

  grow(target, now) {
    this.target = Math.min(this.maxTarget, Math.max(this.target, target));
    this.calmSince = now;
  }

  // tick lets the target shrink after a calm spell.
  tick(now) {
    const dt = this.updatedAt === null ? 0 : Math.max(0, now - this.updatedAt);
    this.updatedAt = now;
    if (this.state !== State.playing || now - this.calmSince < CALM_S) return;
    const floor = Math.max(this.minTarget, this.jitterTarget);
    if (this.target > floor) this.target = Math.max(floor, this.target - SHRINK_S_PER_S * this.sampleRate * dt);
  }

  // steer sets the playback rate from the level's error (once a packet).
  steer(now) {
    const dt = this.lastArrival === null ? 0 : Math.min(JITTER_WINDOW_S, Math.max(0, now - this.lastArrival));
    this.lastArrival = now;
    const error = (this.level - this.target) / this.sampleRate;
    // Only a small error feeds the drift: a large one is a target that just
    // moved, which the proportional term follows.
    const driftError = Math.max(-DRIFT_ERROR_BAND_S, Math.min(DRIFT_ERROR_BAND_S, error));
    this.drift = Math.max(-MAX_DRIFT, Math.min(MAX_DRIFT, this.drift + DRIFT_GAIN * driftError * dt));
    const deviation = RATE_GAIN * error + this.drift;
    this.rate = 1 + Math.max(-MAX_RATE_DEVIATION, Math.min(MAX_RATE_DEVIATION, deviation));
  }

  // write appends a packet from frame skip on, crossfaded in from the
  // concealment if there was one.
  write(planes, n, skip = 0) {
    const c = this.concealer;
    const count = n - skip;
    const fade = c.active ? Math.min(this.crossfade, count) : 0;
    for (let k = 0; k < count; k++) {
      const at = (this.writeEnd + k) & RING_MASK;
      const w = k < fade ? fadeIn(k, fade) : 1;
      for (let ch = 0; ch < this.ring.length; ch++) {
        const v = planes[Math.min(ch, planes.length - 1)][skip + k];
        this.ring[ch][at] = w === 1 ? v : w * v + (1 - w) * c.sample(ch);
      }
      if (k < fade) c.advance();
    }
    c.active = false;
    this.advanceWrite(count);
  }

  // conceal appends n frames of concealment (the concealer must have begun);
  // counted: in concealedMs (not the silence before a start).
  conceal(n, { counted = true } = {}) {
    const c = this.concealer;
    for (let k = 0; k < n; k++) {
      const at = (this.writeEnd + k) & RING_MASK;
      for (let ch = 0; ch < this.ring.length; ch++) this.ring[ch][at] = c.sample(ch);
      c.advance();
    }
    if (counted) this.concealed += n;
    this.advanceWrite(n);
  }

  advanceWrite(n) {
    this.writeEnd += n;
    this.valid = Math.min(RING_FRAMES, this.valid + n);
    // Never lap the reader (the cap keeps far below this).
    const over = this.writeEnd - this.readPos - (RING_FRAMES - this.maxHole - QUANTUM_FRAMES);
    if (over > 0) this.drop(over);
  }

  // drop skips the oldest n frames queued, crossfading from them into what follows.
  drop(n) {
    const cut = Math.floor(Math.min(n, this.writeEnd - this.readPos - this.crossfade - 2));
    if (cut <= 0) return;
    this.fadePos = this.readPos;
    this.fadeLeft = this.crossfade;
    this.readPos += cut;
    this.dropped += cut;
    if (this.level !== null) this.level -= cut;
  }

  // pull fills n frames of every plane of out (Float32Array[]).
  pull(out, n, now) {
    this.tick(now);
    if (this.state === State.idle) {
      for (const o of out) o.fill(0, 0, n);
      return;
    }
    const rate = this.rate;
    // Frames floor(p) and ceil(p) are read for every position p.
    const need = Math.ceil(this.readPos + (n - 1) * rate) + 1 - this.writeEnd;
    if (need > 0) {
      if (this.state === State.playing) {
        this.state = State.dry;
        this.underruns++;
        this.calmSince = now;
        this.dryFrames = 0;
        this.dryGrowth = 0;
        this.dryHeard = 0;
        this.dryCounted = false;
        this.concealer.begin(this.ring, this.writeEnd, this.valid);
      }
      this.conceal(need);
      this.dryFrames += need;
      this.dryHeard += need;
      if (!this.dryCounted && this.dryHeard >= this.audibleFrames) {
        this.audible++;
        this.dryCounted = true;
      }
    }
    const channels = this.ring.length;
    for (let k = 0; k < n; k++) {
      const p = this.readPos + k * rate;
      const i = Math.floor(p);
      const f = p - i;
      const a = i & RING_MASK;
      const b = (i + 1) & RING_MASK;
      let w = 1;
      let q = 0;
      let qa = 0;
      let qb = 0;
      let qf = 0;
      if (this.fadeLeft > 0) {
        w = fadeIn(this.crossfade - this.fadeLeft, this.crossfade);
        q = this.fadePos + k * rate;
        const qi = Math.floor(q);
        qf = q - qi;
        qa = qi & RING_MASK;
        qb = (qi + 1) & RING_MASK;
        this.fadeLeft--;
      }
      for (let ch = 0; ch < out.length; ch++) {
        const r = this.ring[Math.min(ch, channels - 1)];
        let v = r[a] + f * (r[b] - r[a]);
        if (w < 1) v = w * v + (1 - w) * (r[qa] + qf * (r[qb] - r[qa]));
        out[ch][k] = v;
      }
    }
    this.readPos += n * rate;
    this.fadePos += n * rate;
    if (this.state === State.dry && this.dryFrames > this.stallFrames) {
      // A stall (the host or the network stopped): the next packet starts afresh.
      this.stalls++;
      this.state = State.idle;
      this.dryFrames = 0;
    }
  }

  // stats: state (idle, playing, dry); queued (frames in the queue now);
  // queuedMs (the level) and targetMs; jitterMs (the lateness percentile);
  // underruns (the queue ran dry), holes (missing media concealed in place),
  // gaps (both: each time concealment stood in for sound), audible (of them,
  // the ones concealed for AUDIBLE_S or more), stalls (dry past
  // STALL_S), concealedMs; dropped (frames, above the cap); expired (packets
  // for a time already played); rate (the playback rate, 1 ± MAX_RATE_DEVIATION).
  stats() {
    const ms = (frames) => Math.round((frames / this.sampleRate) * 1e4) / 10;
    return {
      state: this.state,
      queued: Math.max(0, Math.round(this.writeEnd - this.readPos)), // frames, now
      queuedMs: ms(this.level ?? 0), // the level, steered to the target
      targetMs: ms(this.target),
      jitterMs: ms(this.jitter),
      underruns: this.underruns,
      gaps: this.underruns + this.holes, // every time concealment stood in for sound
      audible: this.audible, // of the gaps, the ones long enough to be heard (AUDIBLE_S)
      holes: this.holes,
      stalls: this.stalls,
      concealedMs: ms(this.concealed),
      dropped: this.dropped,
      expired: this.expired,
      rate: Math.round(this.rate * 1e5) / 1e5,
    };
  }
}
