// make bench: measures couchplay in real Chromium against builtin:testcard and
// prints the figures of DESIGN §3 next to their targets. Measures, never asserts.
//
// With the NES test ROM on Debian's nestopia (make testdata) it also measures
// the libretro path: key -> frame and sound, CPU and RSS of host + core child
// with 1 and 4 viewers (the per-frame core and IPC times come from the Go
// benchmark BenchmarkNESFrame).
//
// The living-room rows run the same presses through bin/lossyturn (a TURN
// relay on loopback with emulated loss, jitter and a rate cap in each
// direction; the page is forced onto it), and a held tone counts sound gaps.
//
//   node e2e/bench.mjs [--loads 10] [--presses 30] [--sessions 20] [--cpu-seconds 10]
//                      [--lr-presses 20] [--lr-runs 2] [--hold-seconds 30] [--only all|livingroom|wsmedia|firefox]
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startHost, launchBrowser, openPage, waitState, health, poll, repoRoot, startRelay, openRelayedPage, startNoiseHost } from './helpers.mjs';
import { launchFirefox, openFirefoxPage, ffWaitState, keyToWhite, closeContexts } from './firefox-helpers.mjs';

const { values: opt } = parseArgs({
  options: {
    loads: { type: 'string', default: '10' },
    presses: { type: 'string', default: '30' },
    sessions: { type: 'string', default: '20' },
    'cpu-seconds': { type: 'string', default: '10' },
    'nes-presses': { type: 'string', default: '15' },
    'lr-presses': { type: 'string', default: '20' },
    'lr-runs': { type: 'string', default: '2' },
    'hold-seconds': { type: 'string', default: '30' },
    // livingroom: only the lossy-relay rows (and the held tone); all: everything
    only: { type: 'string', default: 'all' },
  },
});
const LOADS = Number(opt.loads);
const PRESSES = Number(opt.presses);
const SESSIONS = Number(opt.sessions);
const CPU_SECONDS = Number(opt['cpu-seconds']);
const NES_PRESSES = Number(opt['nes-presses']);
const LR_PRESSES = Number(opt['lr-presses']);
const LR_RUNS = Number(opt['lr-runs']);
const HOLD_SECONDS = Number(opt['hold-seconds']);
const CORES = process.env.COUCHPLAY_CORES_CACHE || '/var/cache/couchplay-test-cores';
const TESTDATA = process.env.COUCHPLAY_TEST_DATA || path.join(repoRoot, 'e2e', 'out', 'testdata');
const SETTLE_MS = 2000;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const median = (xs) => quantile(xs, 0.5);
function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i), hi = Math.ceil(i);
  return s[lo] + (s[hi] - s[lo]) * (i - lo);
}
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'n/a');
const sleep = (t) => new Promise((r) => setTimeout(r, t));
const log = (...a) => console.error('bench:', ...a);

// ---------- /proc ----------

function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
}
// The host and its children (a libretro core runs in one).
function family(pid) {
  const kids = [];
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      kids.push(...fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch { /* thread gone */ }
  }
  return [pid, ...kids];
}
function familyTicks(pids) { return pids.reduce((sum, p) => sum + cpuTicks(p), 0); }
function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) : NaN;
}
async function cpuPercent(pid, seconds) {
  const pids = family(pid);
  const t0 = familyTicks(pids), w0 = performance.now();
  await sleep(seconds * 1000);
  const t1 = familyTicks(pids), w1 = performance.now();
  return ((t1 - t0) / CLK_TCK) / ((w1 - w0) / 1000) * 100;
}

// ---------- in-page probes ----------

// Installed before the client runs: the first presented frame, relative to
// performance.timeOrigin (= navigation start).
function firstFrameProbe() {
  document.addEventListener('DOMContentLoaded', () => {
    const v = document.getElementById('screen');
    v.requestVideoFrameCallback((now, m) => {
      window.__firstFrame = { display: m.expectedDisplayTime, presentation: m.presentationTime };
    });
    // WebSocket media's canvas: its first frame is drawn at the mark and on
    // screen at the display frame after it.
    const watch = (now) => {
      if (window.__firstFrame) return;
      if (performance.getEntriesByName('couchplay:first-frame').length && document.body.dataset.media === 'websocket') {
        window.__firstFrame = { display: now, presentation: now };
        return;
      }
      requestAnimationFrame(watch);
    };
    requestAnimationFrame(watch);
  });
}

// Key -> frame and key -> sound: the page timestamps each keydown, watches
// every presented frame's colour, and an AudioWorklet reports tone onsets in
// what the page plays: on the fast path its output node (window.couchplay.audio,
// in the page's own AudioContext), on the RTP path the video's MediaStream.
async function latencyProbe() {
  const v = document.getElementById('screen');
  const canvas = document.createElement('canvas');
  canvas.width = 8; canvas.height = 8;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  const probe = window.__probe = { keydown: null, frame: [], sound: [], white: false, tone: false, audio: 'none',
    frames: 0, lastFrameAt: 0, freezes: [], started: performance.now(), toneOffs: 0, holding: false };
  window.addEventListener('keydown', (e) => {
    if (e.code === 'KeyX' && !e.repeat) { probe.keydown = e.timeStamp; probe.gotFrame = false; probe.gotSound = false; }
  }, true);
  // WebSocket media draws on a canvas, which has no frame callback: it is
  // sampled at every display frame instead (the frame drawn is on screen at the next one).
  const socket = document.body.dataset.media === 'websocket';
  const screen = socket ? document.getElementById('screen-canvas') : v;
  const next = (f) => (socket ? requestAnimationFrame((now) => f(now, { expectedDisplayTime: now, presentationTime: now })) : v.requestVideoFrameCallback(f));
  if (socket) {
    // The moment the page draws a white frame on its canvas (on screen at the
    // next vsync), as rVFC's presentationTime is the moment a WebRTC frame is
    // handed to the compositor.
    const drawImage = CanvasRenderingContext2D.prototype.drawImage;
    CanvasRenderingContext2D.prototype.drawImage = function (...args) {
      const r = drawImage.apply(this, args);
      if (this.canvas === screen && probe.keydown !== null && !probe.gotFrame) {
        const d = this.getImageData(2, 2, 1, 1).data;
        if (d[0] > 140) {
          probe.gotFrame = true;
          const t = performance.now() - probe.keydown;
          probe.frame.push({ display: t, presentation: t });
        }
      }
      return r;
    };
  }
  const onFrame = (now, m) => {
    g.drawImage(screen, 0, 0, 8, 8);
    // Top-left area: the whole test card, or the NES ROM's player-1 quadrant
    // (#B53120); "lit" is a bright red channel in both.
    const d = g.getImageData(2, 2, 1, 1).data;
    const white = d[0] > 140;
    if (white && !probe.white && probe.keydown !== null && !probe.gotFrame && !socket) {
      probe.gotFrame = true;
      probe.frame.push({ display: m.expectedDisplayTime - probe.keydown, presentation: m.presentationTime - probe.keydown });
    }
    probe.white = white;
    // A freeze: more than 200 ms between two presented frames (the host sends 60 a second).
    if (probe.lastFrameAt && now - probe.lastFrameAt > 200) probe.freezes.push(now - probe.lastFrameAt);
    probe.lastFrameAt = now;
    probe.frames++;
    next(onFrame);
  };
  next(onFrame);

  // Sound: RMS per 128-sample render quantum, on/off with hysteresis.
  const worklet = `
    class Onset extends AudioWorkletProcessor {
      constructor() { super(); this.on = false; }
      process(inputs) {
        const ch = inputs[0] && inputs[0][0];
        if (!ch) return true;
        let s = 0; for (let i = 0; i < ch.length; i++) s += ch[i] * ch[i];
        const rms = Math.sqrt(s / ch.length);
        if (!this.on && rms > 0.02) { this.on = true; this.port.postMessage({ on: true, t: currentTime }); }
        else if (this.on && rms < 0.002) { this.on = false; this.port.postMessage({ on: false, t: currentTime }); }
        return true;
      }
    }
    registerProcessor('onset', Onset);`;
  try {
    const fast = ['datachannel', 'websocket'].includes(window.couchplay?.audio?.path);
    probe.path = fast ? window.couchplay.audio.path : 'rtp';
    const ctx = fast ? window.couchplay.audio.context : new AudioContext({ latencyHint: 'interactive' });
    await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([worklet], { type: 'text/javascript' })));
    const src = fast ? window.couchplay.audio.output : ctx.createMediaStreamSource(v.srcObject);
    const node = new AudioWorkletNode(ctx, 'onset');
    const mute = ctx.createGain();
    mute.gain.value = 0;
    src.connect(node).connect(mute).connect(ctx.destination);
    await ctx.resume();
    node.port.onmessage = ({ data }) => {
      if (probe.holding && probe.tone && !data.on) probe.toneOffs++; // a gap heard while the tone is held
      probe.tone = data.on;
      if (!data.on || probe.keydown === null || probe.gotSound) return;
      // The worklet posts from the render thread as it processes the quantum, so
      // the arrival time here is when the tone reached WebAudio (+ a message
      // hop); the device plays it outputLatency later. (getOutputTimestamp's
      // mapping is unreliable with headless Chromium's fake audio device.)
      const seen = performance.now() - probe.keydown;
      probe.gotSound = true;
      probe.sound.push({ rendered: seen, output: seen + (ctx.outputLatency || 0) * 1000 });
    };
    probe.audio = 'worklet';
  } catch (err) {
    probe.audio = `unavailable: ${err.message}`;
  }
}

// ---------- figures ----------

async function navigationToFirstFrame(browser, host, query = '') {
  const results = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
    await context.grantPermissions(['camera', 'microphone'], { origin: new URL(host.url).origin });
    await context.addInitScript(firstFrameProbe);
    const page = await context.newPage();
    await page.goto(new URL(query, host.url).href);
    await page.waitForFunction(() => window.__firstFrame, null, { timeout: 15_000 });
    results.push(await page.evaluate(() => ({
      ...window.__firstFrame,
      marks: Object.fromEntries(performance.getEntriesByType('mark')
        .filter((m) => m.name.startsWith('couchplay:')).map((m) => [m.name.slice(10), m.startTime])),
    })));
    await context.close();
    await poll(async () => (await health(host)).players === 0, 'the bench page to leave');
  }
  return results;
}

// query '?audio=rtp' keeps the page on the RTP audio track (the "before").
// open: how the page is opened (default: straight to the host).
async function keyLatency(browser, host, presses = PRESSES, query = '', open = () => openPage(browser, host, query)) {
  const page = await open();
  await waitState(page, 'playing');
  if (!query.includes('audio=rtp')) {
    await page.waitForFunction(() => window.couchplay.audio.stats.decoded > 0, null, { timeout: 15_000 })
      .catch(() => log('the fast audio path did not start'));
    // The buffer learns the link in its first second (a guess until then):
    // the figures are the ones a game gets once it runs.
    await sleep(SETTLE_MS);
  }
  await page.evaluate(latencyProbe);
  const fastBefore = await page.evaluate(() => window.couchplay.audio.stats);
  const audioMode = await page.evaluate(() => window.__probe.audio);
  const path = await page.evaluate(() => window.__probe.path);
  await page.waitForFunction(() => !window.__probe.white, null, { timeout: 15_000 });
  for (let i = 0; i < presses; i++) {
    // A random gap so presses land at every phase of the 60 Hz frame clock.
    await sleep(60 + Math.random() * 90);
    await page.keyboard.down('KeyX');
    // A page that left the fast path for the RTP track (its channel stalled)
    // plays no more tone where the probe listens: the rest is picture only.
    await page.waitForFunction(() => window.__probe.gotFrame && (window.__probe.gotSound || window.__probe.audio !== 'worklet'
      || window.couchplay.audio.path !== window.__probe.path),
      null, { timeout: 15_000 }).catch(async () => log(`press ${i}: no white frame or tone within 15 s`,
      JSON.stringify(await page.evaluate(() => ({ probe: { gotFrame: window.__probe.gotFrame, gotSound: window.__probe.gotSound },
        audio: window.couchplay.audio.path })).catch(() => ({})))));
    await page.keyboard.up('KeyX');
    await page.waitForFunction(() => !window.__probe.white && !window.__probe.tone, null, { timeout: 15_000 })
      .catch(() => log(`press ${i}: picture/tone did not stop within 15 s`));
    await page.evaluate(() => { window.__probe.keydown = null; });
  }
  const probe = await page.evaluate(() => ({ ...window.__probe, seconds: (performance.now() - window.__probe.started) / 1000 }));
  const fast = await page.evaluate(() => window.couchplay.audio.stats);
  const fellBack = await page.evaluate(() => window.couchplay.audio.path !== window.__probe.path);
  if (fellBack) log(`the page left the fast sound path during the run: ${await page.evaluate(() => window.couchplay.audio.fallback ?? '')}`);
  await page.context().close();
  // The next page must get slot 1 (player 1's A is what turns the card white).
  await poll(async () => (await health(host)).players === 0, 'the bench page to leave');
  return { frame: probe.frame, sound: probe.sound, audioMode, path: fellBack ? `${path}, then rtp` : path, fast, fastBefore, freezes: probe.freezes, seconds: probe.seconds, presses };
}

// CPU of the host and its core child while `viewers` pages watch; RSS of both.
async function hostCPU(browser, host, viewers = 1, query = '') {
  const pages = [];
  for (let i = 0; i < viewers; i++) {
    const page = await openPage(browser, host, query);
    await waitState(page, 'playing');
    pages.push(page);
  }
  await sleep(1000); // past the join keyframes
  const idle = await cpuPercent(host.pid, CPU_SECONDS);
  const rss = family(host.pid).reduce((sum, p) => sum + rssKiB(p), 0);
  for (const page of pages) await page.context().close();
  return { idle, rss };
}

async function rssGrowth(browser, host) {
  const session = async () => {
    const page = await openPage(browser, host);
    await waitState(page, 'playing');
    await page.context().close();
    await poll(async () => { const h = await health(host); return h.players === 0 && h.peers === 0; }, 'the session to end');
  };
  await session(); // warm-up: encoders, pion buffers
  await sleep(500);
  const before = rssKiB(host.pid);
  const goroutinesBefore = (await health(host)).goroutines;
  for (let i = 0; i < SESSIONS; i++) await session();
  await sleep(2000); // let closed peers' goroutines and timers finish
  const after = rssKiB(host.pid);
  const goroutinesAfter = (await health(host)).goroutines;
  return { before, after, goroutinesBefore, goroutinesAfter };
}

function outDir() {
  const dir = path.join(repoRoot, 'e2e', 'out');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// ---------- the living room: a lossy relay ----------

// Each condition holds in both directions (delay and jitter are one way).
const LIVING_ROOM = [
  ['relay, no loss', {}, { white: '', tone: '<= 35 ms' }],
  ['2 % loss, 5 ± 5 ms', { loss: 0.02, delayMs: 5, jitterMs: 5 }, { white: 'p95 <= 45 ms', tone: '<= 45 ms' }],
  ['5 % loss, 10 ± 10 ms', { loss: 0.05, delayMs: 10, jitterMs: 10 }, { white: 'p95 <= 75 ms', tone: '<= 55 ms' }],
  ['10 % loss in bursts (mean 5), 10 ± 10 ms', { loss: 0.1, burst: 5, delayMs: 10, jitterMs: 10 }, { white: 'p95 <= 100 ms', tone: '' }],
];
const RATE_CAP_KBPS = 1000;

const perMinute = (n, seconds) => (seconds > 0 ? (n * 60) / seconds : NaN);
const fastGaps = (fast) => fast.gaps ?? fast.underruns ?? 0;
const gapsDuring = (k) => fastGaps(k.fast) - fastGaps(k.fastBefore);
const heardDuring = (k) => (k.fast.audible ?? 0) - (k.fastBefore.audible ?? 0);

async function livingRoom(browser, host) {
  for (const [name, cond, goal] of LIVING_ROOM) {
    for (let run = 1; run <= LR_RUNS; run++) {
      log(`living room: ${name}, run ${run}, ${LR_PRESSES} presses`);
      const relay = await startRelay({ up: cond, down: cond, seed: run });
      const k = await keyLatency(browser, host, LR_PRESSES, '', () => openRelayedPage(browser, host, relay));
      const stats = await relay.stats();
      await relay.stop();
      raw[`livingRoom ${name} ${run}`] = { ...k, relay: stats };
      const frame = k.frame.map((x) => x.presentation);
      const tone = k.sound.map((x) => x.rendered);
      const lost = k.presses - frame.length;
      rows.push([`${name} (run ${run}): key -> white median / p95, tone median`,
        `${ms(median(frame))} / ${ms(quantile(frame, 0.95))}, ${ms(median(tone))} (${k.path})`, [goal.white, goal.tone].filter(Boolean).join('; ')]);
      // Gaps heard: concealment of 10 ms or more (jitter.js AUDIBLE_S); all: every time it stood in.
      rows.push([`  freezes > 200 ms / sound gaps heard, all (per minute) / presses lost`,
        `${k.freezes.length} (${perMinute(k.freezes.length, k.seconds).toFixed(1)}/min) / ${heardDuring(k)}, ${gapsDuring(k)} (${perMinute(heardDuring(k), k.seconds).toFixed(1)}, ${perMinute(gapsDuring(k), k.seconds).toFixed(1)}/min) / ${lost}`,
        '<= 1 freeze, <= 4 gaps a minute; 0 lost']);
      rows.push(['  relay: down sent / lost, up sent / lost',
        `${stats.down.sent} / ${stats.down.lost + stats.down.overflow}, ${stats.up.sent} / ${stats.up.lost + stats.up.overflow}`, '']);
    }
  }
  await rateCap(browser);
  await heldTone(browser, host);
}

// A link that drops to RATE_CAP_KBPS while a page watches a picture that
// fills any rate (the test core's noise): how long until the host's encoder
// is under it (/healthz videoKbps), and the freezes meanwhile.
async function rateCap(browser) {
  log(`living room: rate cap ${RATE_CAP_KBPS} kbit/s`);
  const host = await startNoiseHost();
  hosts.push(host);
  const relay = await startRelay({});
  const page = await openRelayedPage(browser, host, relay);
  try {
    await waitState(page, 'playing');
    await page.evaluate(latencyProbe);
    await sleep(2000);
    const before = (await health(host)).videoKbps;
    await relay.set({ up: { rateKbps: RATE_CAP_KBPS }, down: { rateKbps: RATE_CAP_KBPS } });
    const t0 = performance.now();
    let adapted = NaN;
    const series = [];
    while (performance.now() - t0 < 10_000) {
      const kbps = (await health(host)).videoKbps;
      series.push([Math.round(performance.now() - t0), kbps]);
      if (Number.isNaN(adapted) && kbps !== undefined && kbps <= RATE_CAP_KBPS * 0.9) adapted = performance.now() - t0;
      await sleep(100);
    }
    const probe = await page.evaluate(() => window.__probe);
    const stats = await relay.stats();
    raw.rateCap = { before, series, freezes: probe.freezes, relay: stats };
    rows.push([`rate cap ${RATE_CAP_KBPS} kbit/s: encoder under 90 % of it after / freezes in 10 s`,
      `${Number.isNaN(adapted) ? 'never' : ms(adapted)} (from ${before ?? '?'} to ${series.at(-1)?.[1] ?? '?'} kbit/s) / ${probe.freezes.length}`, 'adapts within 3 s; <= 1 freeze']);
  } finally {
    await page.context().close();
    await relay.stop();
    await host.stop();
  }
}

// A tone held for HOLD_SECONDS on loopback: the gaps the fast path's buffer had
// (underruns, concealed or not) and the ones heard (the onset probe saw the tone stop).
async function heldTone(browser, host) {
  log(`held tone: ${HOLD_SECONDS} s`);
  const page = await openPage(browser, host);
  try {
    await waitState(page, 'playing');
    await page.waitForFunction(() => window.couchplay.audio.stats.decoded > 0, null, { timeout: 15_000 }).catch(() => {});
    await sleep(SETTLE_MS);
    await page.evaluate(latencyProbe);
    await page.keyboard.down('KeyX');
    await page.waitForFunction(() => window.__probe.tone, null, { timeout: 15_000 });
    const before = await page.evaluate(() => window.couchplay.audio.stats);
    await page.evaluate(() => { window.__probe.holding = true; });
    await sleep(HOLD_SECONDS * 1000);
    const heard = await page.evaluate(() => { window.__probe.holding = false; return window.__probe.toneOffs; });
    const after = await page.evaluate(() => window.couchplay.audio.stats);
    await page.keyboard.up('KeyX');
    const path = await page.evaluate(() => window.couchplay.audio.path);
    raw.heldTone = { before, after, heard, path };
    rows.push([`held tone ${HOLD_SECONDS} s on loopback (${path}): buffer underruns / concealed 10 ms or more / silences heard`,
      `${fastGaps(after) - fastGaps(before)} / ${(after.audible ?? 0) - (before.audible ?? 0)} / ${heard}`, '<= 1 gap a minute']);
    rows.push(['  sound buffer at the end: queued / target', `${after.queuedMs ?? '–'} / ${after.targetMs ?? '–'} ms`, '']);
  } finally {
    await page.context().close();
    await poll(async () => (await health(host)).players === 0, 'the bench page to leave');
  }
}

// ---------- main ----------

const browser = await launchBrowser();
const hosts = [];
const rows = [];
const raw = {};
try {
  const host = await startHost();
  hosts.push(host);
  log(`host ${host.url} pid ${host.pid}`);

  if (opt.only === 'all' || opt.only === 'livingroom') await livingRoom(browser, host);
  if (opt.only === 'all' || opt.only === 'wsmedia') {
    // WebSocket media (no WebRTC): the same frames over the signalling socket, decoded with WebCodecs.
    const WS = '?media=websocket';
    log(`WebSocket media: navigation -> first frame, ${LOADS} loads`);
    const wnav = await navigationToFirstFrame(browser, host, WS);
    raw.wsNavigation = wnav;
    rows.push(['WebSocket media: navigation -> first frame on screen, median', ms(median(wnav.map((x) => x.presentation))), '<= 250 ms']);
    log(`WebSocket media: key -> frame / sound, ${PRESSES} presses`);
    const wkey = await keyLatency(browser, host, PRESSES, WS);
    raw.wsKey = wkey;
    const wframe = wkey.frame.map((x) => x.presentation);
    rows.push([`WebSocket media: key -> white frame drawn, median / p95 (n=${wframe.length})`, `${ms(median(wframe))} / ${ms(quantile(wframe, 0.95))}`, '<= WebRTC + 5 ms']);
    rows.push([`WebSocket media: key -> sound onset (played: ${wkey.path}), median (n=${wkey.sound.length})`,
      wkey.audioMode === 'worklet' ? ms(median(wkey.sound.map((x) => x.rendered))) : wkey.audioMode, '']);
    log(`WebSocket media: key -> frame over WebRTC for comparison, ${PRESSES} presses`);
    const rkey = await keyLatency(browser, host, PRESSES);
    const rframe = rkey.frame.map((x) => x.presentation);
    rows.push([`  WebRTC in the same run: key -> white, median / p95 (n=${rframe.length})`, `${ms(median(rframe))} / ${ms(quantile(rframe, 0.95))}`, '']);
    log(`WebSocket media: host CPU over ${CPU_SECONDS} s, one viewer`);
    const wcpu = await hostCPU(browser, host, 1, WS);
    raw.wsCPU = wcpu;
    rows.push(['WebSocket media: host CPU, 1 viewer, testcard', `${wcpu.idle.toFixed(1)} % of a core`, '<= WebRTC viewer']);
    const rcpu = await hostCPU(browser, host, 1);
    rows.push(['  WebRTC in the same run: host CPU, 1 viewer, testcard', `${rcpu.idle.toFixed(1)} % of a core`, '']);
  }
  if (opt.only === 'all' || opt.only === 'firefox') {
    // Debian's firefox-esr over WebDriver BiDi (the e2e suite's harness), on its own WebRTC stack.
    log(`Firefox: key -> white, ${PRESSES} presses`);
    const ff = await launchFirefox();
    try {
      const page = await openFirefoxPage(ff, host.url);
      await ffWaitState(page, 'playing');
      const seen = await keyToWhite(page, PRESSES);
      raw.firefoxKey = seen;
      rows.push([`Firefox ${await ff.version()}: key -> white frame presented, median / p95 (n=${seen.length})`,
        `${ms(median(seen))} / ${ms(quantile(seen, 0.95))}`, '']);
    } finally {
      await closeContexts();
      await ff.close().catch(() => {});
    }
    await poll(async () => (await health(host)).players === 0, 'the Firefox page to leave');
  }
  if (opt.only === 'all') {
    log(`navigation -> first frame, ${LOADS} loads`);
    const nav = await navigationToFirstFrame(browser, host);
    raw.navigation = nav;
    rows.push(['page navigation -> first frame presented, median', ms(median(nav.map((x) => x.presentation))), '<= 250 ms']);
    rows.push(['  (expected display time)', ms(median(nav.map((x) => x.display))), '']);
    const steps = Object.keys(nav[0]?.marks || {});
    rows.push(['  steps, median ms since navigation', steps.map((k) => `${k} ${median(nav.map((x) => x.marks[k]).filter(Number.isFinite)).toFixed(0)}`).join(', '), '']);

    log(`key -> frame / sound, ${PRESSES} presses`);
    const key = await keyLatency(browser, host);
    raw.key = key;
    log(`key -> sound on the RTP track (?audio=rtp), ${PRESSES} presses`);
    const rtpKey = await keyLatency(browser, host, PRESSES, '?audio=rtp');
    raw.rtpKey = rtpKey;
    const frame = key.frame.map((x) => x.presentation);
    const frameDisplay = key.frame.map((x) => x.display);
    rows.push([`key -> changed frame presented, median / p95 (n=${frame.length})`, `${ms(median(frame))} / ${ms(quantile(frame, 0.95))}`, '<= 20 / 30 ms']);
    rows.push(['  (expected display time)', `${ms(median(frameDisplay))} / ${ms(quantile(frameDisplay, 0.95))}`, '']);
    for (const [name, k] of [[`data channel + WebCodecs (played: ${key.path})`, key], [`RTP track, ?audio=rtp (played: ${rtpKey.path})`, rtpKey]]) {
      rows.push([`key -> sound onset (${name}), median / p95 (n=${k.sound.length})`,
        k.audioMode === 'worklet' ? `${ms(median(k.sound.map((x) => x.rendered)))} / ${ms(quantile(k.sound.map((x) => x.rendered), 0.95))}` : k.audioMode, '<= 45 ms']);
      rows.push(['  (+ audio device output latency)', k.audioMode === 'worklet' ? ms(median(k.sound.map((x) => x.output))) : '', '']);
    }
    rows.push(['  fast path: packets / late / jitter-buffer underruns / dropped frames',
      `${key.fast.packets} / ${key.fast.late} / ${key.fast.underruns ?? '–'} / ${key.fast.dropped ?? '–'}`, '']);

    log(`host CPU over ${CPU_SECONDS} s, one viewer`);
    const cpu = await hostCPU(browser, host);
    raw.cpu = cpu;
    rows.push(['host CPU, 1 viewer, testcard (idle black)', `${cpu.idle.toFixed(1)} % of a core`, '<= 5 %']);
    rows.push(['host RSS, 1 viewer', `${(cpu.rss / 1024).toFixed(1)} MiB`, '—']);
    await poll(async () => (await health(host)).peers === 0, 'the viewer to leave');
    await sleep(1000);
    log(`host CPU over ${CPU_SECONDS} s, nobody watching`);
    const idle = await cpuPercent(host.pid, CPU_SECONDS);
    raw.idleCPU = idle;
    rows.push(['host CPU, nobody watching (the game pauses)', `${idle.toFixed(2)} % of a core`, '<= 0.3 %']);

    log(`RSS growth over ${SESSIONS} join/leave sessions`);
    const growth = await rssGrowth(browser, host);
    raw.growth = growth;
    rows.push([`RSS growth over ${SESSIONS} join/leave sessions`, `${((growth.after - growth.before) / 1024).toFixed(1)} MiB (goroutines ${growth.goroutinesBefore} -> ${growth.goroutinesAfter})`, '<= 2 MiB total']);

    // The built-in game is a realistic load for the encoder (moving picture).
    const game = await startHost({ rom: null });
    hosts.push(game);
    log(`host CPU over ${CPU_SECONDS} s, one viewer, built-in game`);
    const gcpu = await hostCPU(browser, game);
    raw.gameCPU = gcpu;
    rows.push(['host CPU, 1 viewer, built-in game', `${gcpu.idle.toFixed(1)} % of a core`, '<= 5 %']);
    await game.stop();

    // The libretro path: the NES test ROM on Debian's nestopia, in its child process.
    const rom = path.join(TESTDATA, 'quad.nes');
    if (!fs.existsSync(rom) || !fs.existsSync(path.join(CORES, 'nestopia_libretro.so'))) {
      rows.push(['libretro (nestopia)', 'skipped: run make testdata', '']);
    } else {
      const dataDir = fs.mkdtempSync(path.join(outDir(), 'bench-data-'));
      const nes = await startHost({ rom, extraArgs: ['--cores-dir', CORES, '--data', dataDir] });
      hosts.push(nes);
      log(`libretro: key -> frame / sound, ${NES_PRESSES} presses`);
      const nkey = await keyLatency(browser, nes, NES_PRESSES);
      raw.nesKey = nkey;
      const nframe = nkey.frame.map((x) => x.presentation);
      rows.push([`NES (nestopia): key -> changed frame, median / p95 (n=${nframe.length})`, `${ms(median(nframe))} / ${ms(quantile(nframe, 0.95))}`, '<= 20 / 30 ms']);
      rows.push([`NES (nestopia): key -> sound onset (data channel + WebCodecs, played: ${nkey.path}), median (n=${nkey.sound.length})`,
        nkey.audioMode === 'worklet' ? ms(median(nkey.sound.map((x) => x.rendered))) : nkey.audioMode, '<= 45 ms']);
      log(`libretro: key -> sound on the RTP track, ${NES_PRESSES} presses`);
      const nrtp = await keyLatency(browser, nes, NES_PRESSES, '?audio=rtp');
      raw.nesRtpKey = nrtp;
      rows.push([`NES (nestopia): key -> sound onset (RTP track, played: ${nrtp.path}), median (n=${nrtp.sound.length})`,
        nrtp.audioMode === 'worklet' ? ms(median(nrtp.sound.map((x) => x.rendered))) : nrtp.audioMode, '<= 45 ms']);
      for (const viewers of [1, 4]) {
        log(`libretro: CPU over ${CPU_SECONDS} s, ${viewers} viewer(s)`);
        const c = await hostCPU(browser, nes, viewers);
        raw[`nesCPU${viewers}`] = c;
        rows.push([`NES (nestopia): CPU host + core, ${viewers} viewer${viewers > 1 ? 's' : ''}`, `${c.idle.toFixed(1)} % of a core`, viewers === 1 ? '<= 5 %' : '—']);
        rows.push([`NES (nestopia): RSS host + core, ${viewers} viewer${viewers > 1 ? 's' : ''}`, `${(c.rss / 1024).toFixed(1)} MiB`, '—']);
      }
      await nes.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
  await host.stop();
} finally {
  await browser.close().catch(() => {});
  for (const h of hosts) await h.stop().catch(() => {});
}

const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), ['figure', 'measured', 'target'][i].length));
const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(line(['figure', 'measured', 'target']));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));

fs.writeFileSync(path.join(outDir(), 'bench.json'), JSON.stringify({ when: new Date().toISOString(), rows, raw }, null, 2));
