// couchplay's loss concealment for the sound's jitter buffer (jitter.js, DESIGN
// §3): when sound is missing (the queue ran dry, or a packet was lost) the
// buffer plays what this makes instead of silence: the last pitch period of
// what it played (found by autocorrelation in the last ~10 ms), repeated and
// fading out over CONCEAL_FADE_S; the buffer crossfades back into the real
// sound when that comes. A plain ES module: the AudioWorklet runs it, and
// e2e/jitter.test.mjs drives it through the buffer.

const CONCEAL_FADE_S = 0.02; // what stands in for missing sound fades out over this
const PERIOD_MIN_S = 0.0025; // pitch periods searched, 400..100 Hz (multiples of higher pitches too)
const PERIOD_MAX_S = 0.01;
const MATCH_S = 0.0025; // the stretch compared at each candidate period
const PERIOD_TOLERANCE = 0.02; // the longest period this close to the best match wins (less buzz)
const PERIODIC_MIN_CORRELATION = 0.3; // below this the sound is noise-like: repeat the last PERIOD_MAX_S
const SEAM_S = 0.001; // the step where the repetition starts is smoothed out over this

// The raised-cosine weight of the incoming side at frame k of an n-frame crossfade.
export const fadeIn = (k, n) => 0.5 - 0.5 * Math.cos((Math.PI * (k + 0.5)) / n);

// Concealer makes the sound that stands in for missing sound: the last pitch
// period before the end of the ring's content, repeated with a decaying gain.
export class Concealer {
  // ringMask: the jitter buffer's ring is indexed modulo its length, a power of two.
  constructor(channels, sampleRate, ringMask) {
    this.ringMask = ringMask;
    this.periodMin = Math.round(PERIOD_MIN_S * sampleRate);
    this.periodMax = Math.round(PERIOD_MAX_S * sampleRate);
    this.match = Math.round(MATCH_S * sampleRate);
    this.seam = Math.round(SEAM_S * sampleRate);
    this.fadeFrames = Math.round(CONCEAL_FADE_S * sampleRate);
    const history = this.periodMax + this.match;
    this.history = Array.from({ length: channels }, () => new Float32Array(history));
    this.cycle = Array.from({ length: channels }, () => new Float32Array(this.periodMax));
    this.active = false;
    this.period = 0;
    this.phase = 0;
    this.made = 0; // frames made since begin
  }

  // begin prepares the repetition of what precedes ring index end (valid: how
  // many frames before end hold sound of this stream).
  begin(ring, end, valid) {
    this.active = true;
    this.phase = 0;
    this.made = 0;
    const hist = this.history[0].length;
    const have = Math.min(valid, hist);
    if (have < this.periodMin + this.match) {
      this.period = 0; // nothing to repeat: silence
      return;
    }
    for (let ch = 0; ch < ring.length; ch++) {
      const h = this.history[ch];
      h.fill(0);
      for (let i = hist - have; i < hist; i++) h[i] = ring[ch][(end - hist + i) & this.ringMask];
    }
    const period = this.findPeriod(have);
    this.period = period;
    for (let ch = 0; ch < ring.length; ch++) {
      const h = this.history[ch];
      const c = this.cycle[ch];
      for (let k = 0; k < period; k++) c[k] = h[hist - period + k];
      // The repetition starts where the sound was heading (a linear
      // prediction from its last two samples), and eases into the copy.
      const predicted = 2 * h[hist - 1] - h[hist - 2];
      const step = predicted - c[0];
      const seam = Math.min(this.seam, period >> 1);
      for (let k = 0; k < seam; k++) c[k] += step * (1 - k / seam);
    }
  }

  // findPeriod is the repetition length that best continues the history: the
  // lag whose stretch best matches the last MATCH_S (normalised correlation).
  findPeriod(have) {
    const hist = this.history[0].length;
    const maxLag = Math.min(this.periodMax, have - this.match);
    const from = hist - this.match;
    let energy = 0;
    for (const h of this.history) for (let i = from; i < hist; i++) energy += h[i] * h[i];
    if (energy === 0) return maxLag;
    const scores = new Float64Array(maxLag + 1);
    let best = -Infinity;
    for (let lag = this.periodMin; lag <= maxLag; lag++) {
      let dot = 0;
      let lagEnergy = 0;
      for (const h of this.history) {
        for (let i = from; i < hist; i++) {
          const x = h[i - lag];
          dot += h[i] * x;
          lagEnergy += x * x;
        }
      }
      scores[lag] = lagEnergy > 0 ? dot / Math.sqrt(energy * lagEnergy) : 0;
      best = Math.max(best, scores[lag]);
    }
    if (best < PERIODIC_MIN_CORRELATION) return maxLag;
    for (let lag = maxLag; lag >= this.periodMin; lag--) {
      if (scores[lag] >= best - PERIOD_TOLERANCE) return lag;
    }
    return maxLag;
  }

  // gain is the concealment's level at its frame t: 1 fading to 0.
  gain(t) {
    return t < this.fadeFrames ? 0.5 + 0.5 * Math.cos((Math.PI * t) / this.fadeFrames) : 0;
  }

  // sample is the next frame's value on channel ch; advance moves on a frame.
  sample(ch) {
    if (!this.period || this.made >= this.fadeFrames) return 0;
    return this.cycle[ch][this.phase] * this.gain(this.made);
  }

  advance() {
    this.made++;
    if (this.period && ++this.phase >= this.period) this.phase = 0;
  }
}
