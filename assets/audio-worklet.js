// couchplay's sound output for the audio data channel: app.js decodes the
// Opus packets with WebCodecs and posts the PCM here with each packet's media
// time; this processor runs the adaptive jitter buffer of jitter.js on the
// render thread (arrivals and pulls on the same clock, currentTime) and posts
// its figures to app.js twice a second. What the buffer does (its target
// from the measured jitter, rate steering instead of dropping, concealment of
// gaps and losses) is said in jitter.js.

import { JitterBuffer } from './jitter.js';

const REPORT_EVERY_S = 0.5;

class JitterProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions ?? {};
    this.buffer = new JitterBuffer({ sampleRate, channels: o.channels });
    this.reportedAt = 0;
    // {planes: Float32Array[] per channel, mediaTime: seconds, recovered: a redundant copy}
    this.port.onmessage = ({ data }) => {
      this.buffer.push(data.planes, data.mediaTime, currentTime, { recovered: data.recovered });
    };
  }

  process(inputs, outputs) {
    const out = outputs[0];
    this.buffer.pull(out, out[0].length, currentTime);
    if (currentTime - this.reportedAt > REPORT_EVERY_S) {
      this.reportedAt = currentTime;
      const s = this.buffer.stats();
      // queued (frames now), start (the target, frames), underruns and
      // dropped (frames) are the names app.js, the e2e tests and the bench
      // have read since the first buffer; the rest say what this one does.
      this.port.postMessage({ ...s, start: Math.round((s.targetMs * sampleRate) / 1000) });
    }
    return true;
  }
}

registerProcessor('couchplay-jitter', JitterProcessor);
