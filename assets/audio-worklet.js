// couchplay's jitter buffer for the sound that comes over the audio data
// channel (app.js decodes it with WebCodecs and posts the PCM here). It plays
// as soon as about one packet is queued: latency, not smoothness, is what a
// game needs. An underrun plays silence and buffers again, each time a little
// more (arrival is bursty: the host encodes once per emulated frame, one or
// two 10 ms packets), and the margin shrinks back while no underrun comes.
// Latency cannot creep: more than maxFrames queued drops the oldest at once,
// and sound that stayed queued for a whole second without being needed (the
// lowest level over the second) is dropped too: it is only delay.

const QUANTUM = 128; // WebAudio render quantum, frames
const SHRINK_AFTER_S = 2; // seconds with no underrun before the margin shrinks one quantum
const REPORT_EVERY_S = 0.5;
const TRIM_EVERY_S = 1;

class JitterBuffer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.minStart = o.startFrames; // ~1 packet
    this.maxStart = o.maxStartFrames;
    this.maxFrames = o.maxFrames; // ~40 ms
    this.start = this.minStart;
    this.queue = []; // {planes: Float32Array[], off}
    this.queued = 0;
    this.playing = false;
    this.underruns = 0;
    this.dropped = 0; // frames thrown away for being too old
    this.calmSince = currentTime;
    this.reportedAt = 0;
    this.low = Infinity; // the least queued after a quantum since trimmedAt
    this.trimmedAt = currentTime;
    this.port.onmessage = ({ data }) => this.push(data);
  }

  push(planes) {
    if (!planes.length || !planes[0].length) return;
    this.queue.push({ planes, off: 0 });
    this.queued += planes[0].length;
    // Too much queued (a burst after a stall): keep only the newest start frames.
    if (this.queued > this.maxFrames) this.drop(this.queued - this.start);
  }

  // drop throws away the oldest n frames.
  drop(n) {
    while (n > 0 && this.queue.length) {
      const head = this.queue[0];
      const cut = Math.min(head.planes[0].length - head.off, n);
      head.off += cut;
      this.queued -= cut;
      this.dropped += cut;
      n -= cut;
      if (head.off >= head.planes[0].length) this.queue.shift();
    }
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const n = out[0].length;
    if (!this.playing && this.queued >= this.start) this.playing = true;
    if (this.playing) {
      let i = 0;
      while (i < n && this.queue.length) {
        const head = this.queue[0];
        const k = Math.min(head.planes[0].length - head.off, n - i);
        for (let ch = 0; ch < out.length; ch++) {
          const src = head.planes[Math.min(ch, head.planes.length - 1)];
          out[ch].set(src.subarray(head.off, head.off + k), i);
        }
        i += k;
        head.off += k;
        this.queued -= k;
        if (head.off >= head.planes[0].length) this.queue.shift();
      }
      if (i < n) {
        // Underrun: the rest of the quantum stays silent (outputs start zeroed).
        this.playing = false;
        this.underruns++;
        this.start = Math.min(this.maxStart, this.start + QUANTUM);
        this.calmSince = currentTime;
        this.low = Infinity; // this second needed all it had
        this.trimmedAt = currentTime;
      }
    }
    if (this.playing) this.low = Math.min(this.low, this.queued);
    if (currentTime - this.trimmedAt > TRIM_EVERY_S) {
      if (this.low !== Infinity && this.low > 2 * QUANTUM) this.drop(this.low - QUANTUM);
      this.low = Infinity;
      this.trimmedAt = currentTime;
    }
    if (currentTime - this.calmSince > SHRINK_AFTER_S && this.start > this.minStart) {
      this.start = Math.max(this.minStart, this.start - QUANTUM);
      this.calmSince = currentTime;
    }
    if (currentTime - this.reportedAt > REPORT_EVERY_S) {
      this.reportedAt = currentTime;
      this.port.postMessage({ queued: this.queued, start: this.start, underruns: this.underruns, dropped: this.dropped });
    }
    return true;
  }
}

registerProcessor('couchplay-jitter', JitterBuffer);
