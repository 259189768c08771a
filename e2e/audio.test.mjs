// The sound's fast path (DESIGN §3): on 127.0.0.1, a secure context, the page
// plays the Opus packets of the 'audio' data channel through WebCodecs and its
// AudioWorklet, with the RTP track muted; a page that cannot decode them plays
// the RTP track's sound instead, and says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, launchBrowser, openPage, openPageWith, waitState, waitColour, poll, closeAll, meterWorklet } from './helpers.mjs';

const LOUD = 0.02; // RMS of the test card's tone is ~0.2; silence is ~0
const QUIET = 0.002;

let browser;
let host;
before(async () => {
  browser = await launchBrowser();
  host = await startHost();
});
after(() => closeAll(browser, host));

// Installs a level meter on what the page plays: the fast path's output node
// (in the page's own AudioContext), or the RTP track's MediaStream. window.__rms
// is the loudest 128-sample quantum of the last ~50 ms.
async function installMeter(page, source) {
  await page.evaluate(async ({ src, worklet }) => {
    let ctx, node;
    if (src === 'fast') {
      ctx = window.couchplay.audio.context;
      await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([worklet], { type: 'text/javascript' })));
      node = new AudioWorkletNode(ctx, 'meter');
      window.couchplay.audio.output.connect(node);
    } else {
      ctx = new AudioContext();
      await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([worklet], { type: 'text/javascript' })));
      node = new AudioWorkletNode(ctx, 'meter');
      ctx.createMediaStreamSource(document.getElementById('screen').srcObject).connect(node);
      await ctx.resume();
    }
    // A sink with no gain keeps the meter pulled without playing anything twice.
    const sink = ctx.createGain();
    sink.gain.value = 0;
    node.connect(sink).connect(ctx.destination);
    window.__rms = -1;
    node.port.onmessage = ({ data }) => { window.__rms = data; };
  }, { src: source, worklet: meterWorklet });
}

const rms = (page) => page.evaluate(() => window.__rms);

// Player 1 holds A: the tone must be heard; released: silence.
async function toneFollowsA(page) {
  await waitColour(page, 'black');
  await poll(async () => { const r = await rms(page); return r >= 0 && r < QUIET; }, 'silence before A');
  await page.keyboard.down('KeyX');
  await poll(async () => (await rms(page)) > LOUD, 'the 440 Hz tone while A is held');
  await page.keyboard.up('KeyX');
  await poll(async () => { const r = await rms(page); return r >= 0 && r < QUIET; }, 'silence after A is released');
}

test('on 127.0.0.1 the sound comes over the audio data channel, and the RTP track is muted', async () => {
  const page = await openPage(browser, host);
  try {
    await waitState(page, 'playing');
    assert.equal(await page.evaluate(() => window.isSecureContext), true);
    await poll(() => page.evaluate(() => window.couchplay.audio.output && window.couchplay.audio.stats.decoded > 0), 'decoded fast-path sound');
    assert.equal(await page.evaluate(() => document.body.dataset.audio), 'datachannel');
    await installMeter(page, 'fast');
    await toneFollowsA(page);
    const after = await page.evaluate(() => ({
      path: window.couchplay.audio.path, muted: document.getElementById('screen').muted, stats: window.couchplay.audio.stats,
    }));
    assert.equal(after.path, 'datachannel', `still on the fast path: ${JSON.stringify(after)}`);
    assert.equal(after.muted, true, 'the <video> element does not also play the RTP sound');
    // The worklet runs the adaptive jitter buffer (its module imports jitter.js) and reports its figures.
    const b = after.stats;
    assert.ok(b.targetMs >= 5 && b.queuedMs > 0 && Math.abs(b.rate - 1) <= 0.02 + 1e-9 && b.recovered >= 0, `buffer figures: ${JSON.stringify(b)}`);
    // The stats overlay names the path.
    await page.keyboard.press('F3');
    await poll(async () => /sound\s+data channel \+ WebCodecs/.test(await page.locator('#stats').textContent()), 'the stats overlay to name the path');
  } finally {
    await page.context().close();
  }
});

test('without WebCodecs the page asks for no audio channel and plays the RTP track', async () => {
  const plainJoins = () => host.log.match(/msg=joined .*audio_path=""/g)?.length ?? 0;
  const before = plainJoins();
  const page = await openPageWith(browser, host, { init: () => { delete window.AudioDecoder; } });
  try {
    await waitState(page, 'playing');
    const st = await page.evaluate(() => ({
      path: window.couchplay.audio.path, audio: document.body.dataset.audio, muted: document.getElementById('screen').muted,
    }));
    assert.deepEqual(st, { path: 'rtp', audio: 'rtp', muted: false });
    assert.equal(plainJoins(), before + 1, 'its join asked for no data channel');
    await installMeter(page, 'rtp');
    await toneFollowsA(page);
  } finally {
    await page.context().close();
  }
});

test('a page whose decoder cannot start falls back to the RTP track by itself and says why', async () => {
  const page = await openPageWith(browser, host, {
    init: () => { AudioDecoder.isConfigSupported = async () => ({ supported: false }); },
  });
  try {
    await waitState(page, 'playing');
    await poll(() => page.evaluate(() => window.couchplay.audio.path === 'rtp'), 'the fallback to the RTP track');
    const st = await page.evaluate(() => ({
      fallback: window.couchplay.audio.fallback, audio: document.body.dataset.audio, muted: document.getElementById('screen').muted,
    }));
    assert.match(st.fallback, /cannot decode Opus/);
    assert.equal(st.audio, 'rtp');
    assert.equal(st.muted, false, 'the RTP sound plays');
    assert.ok(page.consoleLog.some((l) => /playing the sound of the RTP audio track instead/.test(l)), page.consoleLog.join('\n'));
    await installMeter(page, 'rtp');
    await toneFollowsA(page);
  } finally {
    await page.context().close();
  }
});

// audioMessagesDropped is an init script under which the page's audio
// channel delivers its messages except those numbered after `from` up to
// `to` (1 is the first).
function audioMessagesDropped(from, to) {
  return `(() => {
    const desc = Object.getOwnPropertyDescriptor(RTCDataChannel.prototype, 'onmessage');
    Object.defineProperty(RTCDataChannel.prototype, 'onmessage', {
      configurable: true,
      get() { return desc.get.call(this); },
      set(fn) {
        if (this.label !== 'audio' || !fn) { desc.set.call(this, fn); return; }
        let n = 0;
        desc.set.call(this, (ev) => { n++; if (n <= ${from} || n > ${to}) fn(ev); });
      },
    });
  })();`;
}

test('a fast path that stalls falls back to the RTP track by itself', async () => {
  // The page's audio channel goes quiet after 100 messages (under 2 s), as if the host stopped sending on it.
  const page = await openPageWith(browser, host, { init: audioMessagesDropped(100, Infinity) });
  try {
    await waitState(page, 'playing');
    await poll(() => page.evaluate(() => window.couchplay.audio.stats.decoded > 0), 'sound on the fast path first');
    await poll(() => page.evaluate(() => window.couchplay.audio.path === 'rtp'), 'the fallback to the RTP track');
    const st = await page.evaluate(() => ({ fallback: window.couchplay.audio.fallback, muted: document.getElementById('screen').muted }));
    assert.match(st.fallback, /no packet on the audio data channel/);
    assert.equal(st.muted, false, 'the RTP sound plays');
    await installMeter(page, 'rtp');
    await toneFollowsA(page);
  } finally {
    await page.context().close();
  }
});

test('a fast path that goes quiet for a while plays the RTP track meanwhile, and comes back when its packets do', async () => {
  // Messages 121-240 (2 s, at 60 a second) never reach the page: a burst of loss held SCTP back.
  const page = await openPageWith(browser, host, { init: audioMessagesDropped(120, 240) });
  try {
    await waitState(page, 'playing');
    await poll(() => page.evaluate(() => window.couchplay.audio.stats.decoded > 0), 'sound on the fast path first');
    await poll(() => page.evaluate(() => window.couchplay.audio.path === 'rtp'), 'the RTP track while the channel is quiet');
    const quiet = await page.evaluate(() => ({ fallback: window.couchplay.audio.fallback, muted: document.getElementById('screen').muted }));
    assert.match(quiet.fallback, /no packet on the audio data channel/);
    assert.equal(quiet.muted, false, 'the RTP sound plays meanwhile');
    await poll(() => page.evaluate(() => window.couchplay.audio.path === 'datachannel'), 'the fast path back with its packets');
    const back = await page.evaluate(() => ({ decoded: window.couchplay.audio.stats.decoded, muted: document.getElementById('screen').muted,
      fallback: window.couchplay.audio.fallback, dataset: document.body.dataset.audio }));
    assert.equal(back.muted, true, 'the video is muted again: the sound is the channel\'s');
    assert.equal(back.fallback, '');
    assert.equal(back.dataset, 'datachannel');
    await poll(() => page.evaluate((d) => window.couchplay.audio.stats.decoded > d + 30, back.decoded), 'the channel decoding again');
  } finally {
    await page.context().close();
  }
});
