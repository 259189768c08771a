// A real WebKitGTK (issue 19): Debian's WebKitGTK is built without WebRTC, so
// its MiniBrowser plays the game over WebSocket media (README, WebSocket
// media): VP8 through WebCodecs' VideoDecoder onto #screen-canvas, Opus
// through AudioDecoder into the AudioWorklet. Driven by WebKitWebDriver over
// classic WebDriver (webdriver.mjs), under a private Xvfb when there is no
// display (MiniBrowser of the GTK 3 port has no headless mode).
//
// Debian packages: webkit2gtk-driver (WebKitWebDriver; it pulls
// libwebkit2gtk-4.1-0 with MiniBrowser, which depends on
// gstreamer1.0-plugins-good for vp8dec and gstreamer1.0-plugins-base for
// opusdec) and xvfb.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { startHost, health, poll, WAIT_MS, meterWorklet } from './helpers.mjs';
import { startDisplay, startDriver, miniBrowserPath, webDriverPath, xvfbPath } from './webdriver.mjs';

const PRESSES = 10; // key → white presses measured
const LOUD = 0.02; // RMS of the test card's tone is ~0.2; silence is ~0 (as audio.test.mjs)
const QUIET = 0.002;
const HOLD_MS = 1000; // A held this long once the tone is heard, to count the decoded packets
const MIN_DECODED = 10; // of the ~60 Opus packets a second the host sends

// Every request MiniBrowser makes for anything but 127.0.0.1 goes to this
// loopback "proxy", which answers none of them and records each one: the
// test asserts at the end that there was none (no traffic leaves loopback,
// and the page loads nothing from elsewhere).
function startRecordingProxy() {
  const requests = [];
  const server = http.createServer((req, res) => { requests.push(`${req.method} ${req.url}`); res.destroy(); });
  server.on('connect', (req, socket) => { requests.push(`CONNECT ${req.url}`); socket.destroy(); });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((r) => server.close(r)),
  })));
}

// MiniBrowser's flags (MiniBrowser --help-all lists them; the WebKitSettings
// ones are --help-websettings, the features -F help):
// --automation: MiniBrowser accepts a WebDriver session only in automation
//   mode (without it the session request hangs); it also makes its website
//   data ephemeral and loads no home page.
// --autoplay-policy=allow: MiniBrowser's default policy, allow-without-sound,
//   makes WebKit start an AudioContext suspended until a user gesture (the
//   page's own would stay suspended, and its "Tap for sound" show); "allow"
//   lets it run at once, as Chromium's --autoplay-policy=no-user-gesture-required does.
// --enable-webrtc=false: Debian's build has no WebRTC at all; this keeps a
//   build with it on the WebSocket path this test is about.
// --proxy/--ignore-host: see startRecordingProxy.
// Nothing turns on WebCodecs (VideoDecoder, AudioDecoder), WebAudio or
// AudioWorklet: WebKitGTK 2.50 has them on by default (-F help: WebCodecsVideo,
// WebCodecsAudio, WebAudio), and the first test checks they are there.
function browserArgs(proxy) {
  return ['--automation', '--autoplay-policy=allow', '--enable-webrtc=false',
    `--proxy=${proxy.url}`, '--ignore-host=127.0.0.1'];
}

// The environment of WebKitWebDriver, so of MiniBrowser and its web process:
// NO_AT_BRIDGE: GTK looks for no accessibility bus (there is no D-Bus session).
// WEBKIT_DISABLE_COMPOSITING_MODE: under Xvfb WebKit composites with Mesa's
//   software GL (llvmpipe): measured here, its web process took ~150 % of the
//   2 cores and painted 16-26 frames a second, so the canvas showed a frame
//   late and Opus decodes fell behind; without compositing ~70 % and every
//   frame. The decoders are the same either way: this only spares the CPU a
//   GPU would do on a real desktop.
const driverEnv = { NO_AT_BRIDGE: '1', WEBKIT_DISABLE_COMPOSITING_MODE: '1' };

let host, proxy, display, driver, session;

before(async () => {
  const needed = [[miniBrowserPath, 'libwebkit2gtk-4.1-0'], [webDriverPath, 'webkit2gtk-driver']];
  if (!process.env.DISPLAY) needed.push([xvfbPath, 'xvfb']);
  for (const [file, pkg] of needed) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: install Debian's ${pkg}`);
  }
  host = await startHost();
  proxy = await startRecordingProxy();
  display = await startDisplay();
  driver = await startDriver({ display: display.display, env: { ...display.env, ...driverEnv } });
  session = await driver.newSession({
    'webkitgtk:browserOptions': { binary: miniBrowserPath, args: browserArgs(proxy) },
  });
});

after(async () => {
  await session?.close().catch(() => {});
  await driver?.stop();
  await display?.stop();
  await proxy?.close();
  await host?.stop();
});

// What the page says about itself, for failure messages.
function pageInfo() {
  return session.execute(() => ({
    dataset: { ...document.body.dataset },
    error: document.getElementById('error')?.textContent,
    audio: window.couchplay && {
      path: window.couchplay.audio.path, fallback: window.couchplay.audio.fallback,
      context: window.couchplay.audio.context?.state, stats: window.couchplay.audio.stats,
    },
    marks: performance.getEntriesByType('mark').map((m) => m.name),
  })).catch((err) => ({ unreadable: err.message }));
}

async function waitPage(fn, what, arg, timeout = WAIT_MS) {
  try {
    return await poll(() => session.execute(fn, arg), what, timeout);
  } catch (err) {
    throw new Error(`${err.message}\npage: ${JSON.stringify(await pageInfo())}`, { cause: err });
  }
}

// Installed in the page: window.__wk samples #screen-canvas (the mean colour
// of every 7th pixel, as helpers.mjs's sampler) and, once armed with
// watch(colour), samples it on every animation frame until it is that colour;
// seen(ms) resolves with the wall-clock time of that first sample (null after
// ms). keydownAt: the wall-clock time of the last KeyX keydown the page got.
function installProbe() {
  if (window.__wk) return;
  const c = document.createElement('canvas');
  const g = c.getContext('2d', { willReadFrequently: true });
  const now = () => performance.timeOrigin + performance.now();
  const sample = () => {
    const v = document.getElementById('screen-canvas');
    if (!v || !v.width) return null;
    c.width = v.width; c.height = v.height;
    g.drawImage(v, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let r = 0, gg = 0, b = 0, n = 0;
    for (let i = 0; i < d.length; i += 4 * 7) { r += d[i]; gg += d[i + 1]; b += d[i + 2]; n++; }
    return { r: r / n, g: gg / n, b: b / n, w: c.width, h: c.height };
  };
  const colour = (s) => {
    if (!s) return 'none';
    if (s.r > 180 && s.g > 180 && s.b > 180) return 'white';
    if (s.r < 60 && s.g < 60 && s.b < 60) return 'black';
    return 'other';
  };
  const wk = window.__wk = { sample, colour, keydownAt: 0, seenAt: null };
  window.addEventListener('keydown', (ev) => { if (ev.code === 'KeyX' && !ev.repeat) wk.keydownAt = now(); }, true);
  wk.watch = (want) => {
    const armed = wk.armed = {};
    wk.seenAt = new Promise((resolve) => {
      const step = () => {
        if (wk.armed !== armed) return;
        if (colour(sample()) === want) resolve(now());
        else requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
  };
  wk.seen = (ms) => Promise.race([wk.seenAt, new Promise((r) => setTimeout(() => r(null), ms))]);
}

const colourNow = () => session.execute(() => window.__wk.colour(window.__wk.sample()));

// Arms the page's watcher for colour, runs act (a key action), and returns
// how long after the action the page first saw it, and after its keydown.
async function timeTo(colour, act) {
  await session.execute((c) => window.__wk.watch(c), colour);
  const start = performance.timeOrigin + performance.now();
  await act();
  const at = await session.execute((ms) => window.__wk.seen(ms), WAIT_MS);
  if (at === null) {
    const s = await session.execute(() => window.__wk.sample()).catch(() => null);
    throw new Error(`the canvas never turned ${colour} within ${WAIT_MS} ms; last sample ${JSON.stringify(s)}\npage: ${JSON.stringify(await pageInfo())}`);
  }
  const keydownAt = await session.execute(() => window.__wk.keydownAt);
  return { fromAction: at - start, fromKeydown: at - keydownAt };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

test('WebKitGTK without WebRTC plays over WebSocket media: playing as player 1, /healthz says websocket', async () => {
  await session.navigate(host.url);
  // What this WebKitGTK has; VP8 and Opus decode through GStreamer (vp8dec, opusdec).
  const env = await session.execute(async () => ({
    secure: window.isSecureContext,
    rtc: typeof RTCPeerConnection,
    worklet: typeof AudioWorkletNode,
    vp8: typeof VideoDecoder === 'function' && (await VideoDecoder.isConfigSupported({ codec: 'vp8' })).supported,
    opus: typeof AudioDecoder === 'function' &&
      (await AudioDecoder.isConfigSupported({ codec: 'opus', sampleRate: 48000, numberOfChannels: 2 })).supported,
    ua: navigator.userAgent,
  }));
  assert.equal(env.secure, true, 'http://127.0.0.1 is a secure context (WebCodecs exists only there)');
  assert.equal(env.rtc, 'undefined', `this WebKit has no WebRTC (${env.ua})`);
  assert.equal(env.vp8, true, 'WebCodecs decodes VP8 (GStreamer vp8dec, in gstreamer1.0-plugins-good)');
  assert.equal(env.opus, true, 'WebCodecs decodes Opus (GStreamer opusdec, in gstreamer1.0-plugins-base)');
  assert.equal(env.worklet, 'function', 'AudioWorklet');

  await waitPage(() => document.body.dataset.state === 'playing' && document.body.dataset.media, 'state playing', undefined, 2 * WAIT_MS);
  const page = await session.execute(() => ({
    slot: document.body.dataset.slot, media: document.body.dataset.media,
    pc: window.couchplay.pc, audioPath: window.couchplay.audio.path,
  }));
  assert.deepEqual(page, { slot: '1', media: 'websocket', pc: null, audioPath: 'websocket' });
  assert.deepEqual((await health(host)).members, [{ slot: 1, media: 'websocket' }]);
  // Before any input (a WebDriver key action is a user gesture, which would resume it).
  await waitPage(() => window.couchplay.audio.context?.state === 'running',
    'the page\'s AudioContext to run with no user gesture (--autoplay-policy=allow)');
  assert.equal(await session.execute(() => document.getElementById('unmute').hidden), true, 'no "Tap for sound"');
  await session.execute(installProbe);
  await waitPage(() => window.__wk.colour(window.__wk.sample()) === 'black', 'a black picture on #screen-canvas');
  const s = await session.execute(() => window.__wk.sample());
  assert.equal(`${s.w}x${s.h}`, '256x240', 'the canvas has the game\'s size');
});

test('WebKitGTK: holding A (KeyX) turns the canvas white, releasing it black; key → white time', async () => {
  await session.execute(installProbe);
  assert.equal(await colourNow(), 'black', 'black before A');
  const times = [];
  try {
    for (let i = 0; i < PRESSES; i++) {
      times.push(await timeTo('white', () => session.keyDown('x')));
      await timeTo('black', () => session.keyUp('x'));
    }
  } finally {
    await session.keyUp('x').catch(() => {}); // not left held for the next test when one fails
  }
  const action = median(times.map((t) => t.fromAction));
  const keydown = median(times.map((t) => t.fromKeydown));
  console.log(`webkit: key → white (WebKitGTK, WebSocket media) median ${action.toFixed(1)} ms from the WebDriver key action, ` +
    `${keydown.toFixed(1)} ms from the page's keydown (${PRESSES} presses; each: ${times.map((t) => t.fromAction.toFixed(0)).join(' ')})`);
  assert.equal(await colourNow(), 'black', 'black after A');
});

// A meter on what the page plays (its worklet's output node, in its own
// AudioContext), as audio.test.mjs does (helpers' meterWorklet): window.__rms is the loudest
// 128-sample quantum of the last ~50 ms.
async function installMeter() {
  return session.execute(async (worklet) => {
    const ctx = window.couchplay.audio.context;
    await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([worklet], { type: 'text/javascript' })));
    const node = new AudioWorkletNode(ctx, 'meter');
    window.couchplay.audio.output.connect(node);
    // A sink with no gain keeps the meter pulled without playing anything twice.
    const sink = ctx.createGain();
    sink.gain.value = 0;
    node.connect(sink).connect(ctx.destination);
    window.__rms = -1;
    node.port.onmessage = ({ data }) => { window.__rms = data; };
    return ctx.state;
  }, meterWorklet);
}

test('WebKitGTK: the tone of A decodes (AudioDecoder) and plays through the worklet; silence otherwise', async () => {
  await waitPage(() => window.couchplay.audio.output && window.couchplay.audio.stats.decoded > 0, 'decoded sound');
  const state = await installMeter();
  assert.equal(state, 'running', 'the page\'s AudioContext runs');
  const rms = () => session.execute(() => window.__rms);
  const decoded = () => session.execute(() => ({ ...window.couchplay.audio.stats }));
  await waitPage((q) => window.__rms >= 0 && window.__rms < q, 'silence before A', QUIET);
  const before = await decoded();
  await session.keyDown('x');
  let loudest = 0;
  try {
    await poll(async () => { loudest = Math.max(loudest, await rms()); return loudest > LOUD; }, 'the 440 Hz tone while A is held');
    await new Promise((r) => setTimeout(r, HOLD_MS));
  } catch (err) {
    throw new Error(`${err.message}; loudest RMS heard ${loudest}\npage: ${JSON.stringify(await pageInfo())}`, { cause: err });
  } finally {
    await session.keyUp('x');
  }
  const during = await decoded();
  await waitPage((q) => window.__rms >= 0 && window.__rms < q, 'silence after A is released', QUIET);
  const n = during.decoded - before.decoded;
  const sent = during.packets - before.packets;
  console.log(`webkit: Opus while A was held ~${HOLD_MS} ms: ${n} packets decoded of ${sent} received; loudest RMS ${loudest.toFixed(3)}; ` +
    `jitter buffer target ${during.targetMs} ms, concealed ${during.concealedMs} ms since the page opened`);
  assert.ok(n >= MIN_DECODED, `Opus packets decoded while A was held: ${n} of ${sent} (${JSON.stringify(during)})`);
  assert.equal(await session.execute(() => window.couchplay.audio.path), 'websocket', 'the sound came over the WebSocket');
});

test('WebKitGTK: no request left 127.0.0.1', () => {
  assert.deepEqual(proxy.requests, []);
});
