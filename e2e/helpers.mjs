// Shared helpers for the browser e2e tests and the benchmark: start a real
// couchplay host, launch the real Debian Chromium, open players, read pixels.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const hostBinary = process.env.COUCHPLAY_BIN || path.join(repoRoot, 'bin', 'couchplay');
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

// Upper bound for every wait in the tests: generous for 2 loaded cores, and a
// bound so a broken host fails the test instead of hanging it.
export const WAIT_MS = 15_000;
const START_MS = 30_000;

// DESIGN §6: the flags every e2e browser runs with.
export const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

const SERVING = /couchplay: serving (http:\/\/\S+)/;
const SERVING_HTTPS = /couchplay: serving (https:\/\/\S+)/;
const FINGERPRINT = /couchplay: HTTPS certificate SHA-256 fingerprint ([0-9A-F:]+)/;

// Child processes (hosts, proxies) still running. Whatever way the test
// process ends, each gets SIGTERM by its own PID (or its own process group,
// for servers with worker processes), so none outlives the tests.
const children = new Map(); // ChildProcess -> pid or -pgid to signal
function terminateChildren() {
  for (const target of children.values()) {
    try { process.kill(target, 'SIGTERM'); } catch { /* already gone */ }
  }
  children.clear();
}
process.on('exit', terminateChildren);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { terminateChildren(); process.exit(128 + os.constants.signals[sig]); });
}

// Registers proc for terminateChildren; group: proc leads its own process
// group (spawned detached) and the whole group is signalled.
export function stopOnExit(proc, { group = false } = {}) {
  children.set(proc, group ? -proc.pid : proc.pid);
  // A group is gone once every member let go of the pipes ('close'), not when its leader exits.
  proc.once(group ? 'close' : 'exit', () => children.delete(proc));
}

// Hosts started without --data keep it in the user config dir: they get an
// empty one of their own (one per test process, removed at exit), so a
// developer's settings.toml or saves cannot change what a test sees.
let configHome = null;
function testConfigHome() {
  if (!configHome) {
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'couchplay-e2e-config-'));
    process.on('exit', () => fs.rmSync(configHome, { recursive: true, force: true }));
  }
  return configHome;
}

// Starts bin/couchplay on a free loopback port and resolves once /healthz answers.
// rom: 'builtin:testcard' (default) or null for the built-in game.
// https: serve with --https and --data dataDir (a fresh temp dir unless given);
// the host then has dataDir, ca (the cert.pem it made, which health() trusts)
// and fingerprint (from its stderr line).
export async function startHost({ rom = 'builtin:testcard', extraArgs = [], https = false, dataDir } = {}) {
  if (https) {
    dataDir ??= makeTempDir('couchplay-https-');
    extraArgs = ['--https', '--data', dataDir, ...extraArgs];
  }
  const ready = https ? (log) => log.match(FINGERPRINT) && log.match(SERVING_HTTPS) : (log) => log.match(SERVING);
  const { host, lines } = await spawnHost(['--access', 'open'], { rom, extraArgs, ready });
  host.url = lines[1].endsWith('/') ? lines[1] : `${lines[1]}/`;
  if (https) {
    host.dataDir = dataDir;
    host.ca = fs.readFileSync(path.join(dataDir, 'https', 'cert.pem'), 'utf8');
    host.fingerprint = host.log.match(FINGERPRINT)[1];
  }
  return waitHealthy(host);
}

// spawnHost runs bin/couchplay headless on a free loopback port until ready(log)
// matches its stderr, and returns the host handle with that match. stdin:
// a pipe to the host's console ("kick N"), else ignored.
async function spawnHost(accessArgs, { rom, extraArgs = [], ready, stdin = false }) {
  if (!fs.existsSync(hostBinary)) throw new Error(`${hostBinary} is missing: run make build first`);
  const args = ['--headless', '--listen', '127.0.0.1:0', '--no-mdns', ...accessArgs];
  if (rom) args.push('--rom', rom);
  args.push(...extraArgs);
  const proc = spawn(hostBinary, args, {
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, XDG_CONFIG_HOME: testConfigHome() },
  });
  stopOnExit(proc);
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  const lines = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`host printed no "couchplay: serving" line within ${START_MS} ms:\n${log}`)), START_MS);
    const fail = (err) => { clearTimeout(timer); proc.kill('SIGKILL'); reject(err); };
    proc.stderr.on('data', (d) => {
      log += d;
      const m = ready(log);
      if (m) { clearTimeout(timer); resolve(m); }
    });
    proc.on('exit', (code, sig) => fail(new Error(`host exited (${code ?? sig}) before serving:\n${log}`)));
    proc.on('error', fail);
  });
  const host = {
    pid: proc.pid,
    proc,
    get log() { return log; },
    exited: new Promise((resolve) => proc.on('exit', resolve)),
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await host.exited;
      clearTimeout(t);
    },
  };
  return { host, lines };
}

async function waitHealthy(host) {
  await poll(async () => (await health(host).catch(() => null))?.status === 'ok', 'the host /healthz to answer');
  return host;
}

export async function health(host) {
  if (host.ca) return httpsJSON(new URL('healthz', host.url), host.ca);
  const res = await fetch(new URL('healthz', host.url), { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`/healthz: HTTP ${res.status}`);
  return res.json();
}

// GETs url over https trusting only ca (node's fetch cannot be given a CA).
async function httpsJSON(url, ca) {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        if (res.statusCode !== 200) { reject(new Error(`${url.pathname}: HTTP ${res.statusCode}`)); return; }
        try { resolve(JSON.parse(body)); } catch (err) { reject(err); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${url.pathname}: timed out`)));
    req.on('error', reject);
  });
}

// Polls fn (sync or async) until it returns a truthy value, bounded by timeout.
export async function poll(fn, what, timeout = WAIT_MS, interval = 100) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) { last = err; }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last?.message ?? JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

// extraArgs: more Chromium flags for one test (e.g. which certificate to trust).
export function launchBrowser(extraArgs = []) {
  return chromium.launch({ executablePath: chromiumPath, args: [...chromiumArgs, ...extraArgs] });
}

// One player = one browser context (its own sessionStorage), with camera and
// microphone granted: Chrome hides host/loopback ICE candidates otherwise.
export function openPage(browser, host, query = '') {
  return openURL(browser, new URL(query, host.url).href);
}

export async function waitState(page, state, timeout = WAIT_MS) {
  try {
    await page.waitForFunction((s) => document.body.dataset.state === s, state, { timeout });
  } catch (err) {
    const info = await page.evaluate(() => ({ ...document.body.dataset, error: document.getElementById('error')?.textContent })).catch(() => ({}));
    throw new Error(`page never reached state ${state}: ${JSON.stringify(info)}\nconsole:\n${(page.consoleLog || []).join('\n')}`, { cause: err });
  }
}

export async function waitSlot(page, timeout = WAIT_MS) {
  await page.waitForFunction(() => document.body.dataset.slot !== undefined, null, { timeout });
  return page.evaluate(() => document.body.dataset.slot);
}

// Installed in each page: samples the current video frame. Returns the mean
// colour and the spread (max channel distance between sampled pixels).
function samplerSource() {
  window.__sample = () => {
    // WebSocket media draws on #screen-canvas, WebRTC plays in the <video>.
    const v = document.body.dataset.media === 'websocket' ? document.getElementById('screen-canvas') : document.getElementById('screen');
    const w = v?.videoWidth ?? v?.width, h = v?.videoHeight ?? v?.height;
    if (!v || !w) return null;
    const c = window.__sampleCanvas ||= document.createElement('canvas');
    c.width = w; c.height = h;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let r = 0, gg = 0, b = 0, n = 0;
    const min = [255, 255, 255], max = [0, 0, 0];
    const step = 4 * 7; // every 7th pixel is plenty for flat colours
    for (let i = 0; i < d.length; i += step) {
      r += d[i]; gg += d[i + 1]; b += d[i + 2]; n++;
      for (let k = 0; k < 3; k++) { min[k] = Math.min(min[k], d[i + k]); max[k] = Math.max(max[k], d[i + k]); }
    }
    return { r: r / n, g: gg / n, b: b / n, spread: Math.max(max[0] - min[0], max[1] - min[1], max[2] - min[2]), w: c.width, h: c.height };
  };
  window.__colour = (s) => {
    if (!s) return 'none';
    const hi = 180, lo = 60;
    if (s.r > hi && s.g > hi && s.b > hi) return 'white';
    if (s.r < lo && s.g < lo && s.b < lo) return 'black';
    if (s.r > hi && s.g < lo && s.b < lo) return 'red';
    if (s.g > hi && s.r < lo && s.b < lo) return 'green';
    if (s.b > hi && s.r < lo && s.g < lo) return 'blue';
    return 'other';
  };
}

export async function installSampler(page) {
  await page.evaluate(samplerSource);
}

export async function sample(page) {
  await installSampler(page);
  return page.evaluate(() => window.__sample());
}

// Waits until the picture in the page is the named flat colour.
export async function waitColour(page, colour, timeout = WAIT_MS) {
  await installSampler(page);
  try {
    await page.waitForFunction((want) => window.__colour(window.__sample()) === want, colour, { timeout, polling: 50 });
  } catch (err) {
    const s = await page.evaluate(() => window.__sample()).catch(() => null);
    throw new Error(`picture never turned ${colour}; last sample ${JSON.stringify(s)}`, { cause: err });
  }
}

export async function inboundStats(page, kind) {
  return page.evaluate(async (k) => {
    const pc = window.couchplay?.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    for (const s of report.values()) if (s.type === 'inbound-rtp' && s.kind === k) return { ...s };
    return null;
  }, kind);
}

export async function closeAll(browser, host) {
  await browser?.close().catch(() => {});
  await host?.stop().catch(() => {});
}

// Serves assets/ as static files on loopback with no /ws behind it (node's
// http server drops upgrade requests it has no listener for).
export async function serveAssetsOnly() {
  const http = await import('node:http');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const dir = path.join(repoRoot, 'assets');
  const server = http.createServer((req, res) => {
    const name = new URL(req.url, 'http://x').pathname.replace(/^\/+/, '') || 'index.html';
    const file = path.join(dir, path.basename(name));
    if (!types[path.extname(file)] || !fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': types[path.extname(file)] });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

// Waits until the page shows game name as running (title, the visible name, body.dataset.game).
export async function waitGame(page, name, timeout = WAIT_MS) {
  try {
    await page.waitForFunction((n) => document.title.includes(n) &&
      document.getElementById('game-name')?.textContent === n && document.body.dataset.game === 'running', name, { timeout });
  } catch (err) {
    const info = await page.evaluate(() => ({ title: document.title, name: document.getElementById('game-name')?.textContent, ...document.body.dataset })).catch(() => ({}));
    throw new Error(`page never showed game ${name}: ${JSON.stringify(info)}\nconsole:\n${(page.consoleLog || []).join('\n')}`, { cause: err });
  }
}

// ---------- libretro test data ----------

// Made by `make testdata`: the NES test ROM and the C test cores, and Debian's
// cores unpacked into a cache. Tests read both variables, with these defaults.
export const testDataDir = process.env.COUCHPLAY_TEST_DATA || path.join(repoRoot, 'e2e', 'out', 'testdata');
export const coresCacheDir = process.env.COUCHPLAY_CORES_CACHE || '/var/cache/couchplay-test-cores';

// Returns file's path, or throws (the test fails, it does not skip) when it is missing.
export function requireFile(file) {
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: run make testdata (COUCHPLAY_TEST_DATA=${testDataDir}, COUCHPLAY_CORES_CACHE=${coresCacheDir})`);
  }
  return file;
}

// A fresh temporary directory, removed when the test process exits.
const tempDirs = [];
process.on('exit', () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});
export function makeTempDir(prefix = 'couchplay-e2e-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

// The mean colour of a (2r+1)² box around each [x, y] of the current video
// frame, and the frame's size; null before the first frame.
export async function pixelsAt(page, points, r = 3) {
  return page.evaluate(({ points, r }) => {
    const v = document.getElementById('screen');
    if (!v || !v.videoWidth) return null;
    const c = window.__pixelCanvas ||= document.createElement('canvas');
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0);
    const colours = points.map(([x, y]) => {
      const d = g.getImageData(x - r, y - r, 2 * r + 1, 2 * r + 1).data;
      const sum = [0, 0, 0];
      for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k] += d[i + k];
      return sum.map((s) => Math.round(s / (d.length / 4)));
    });
    return { w: c.width, h: c.height, colours };
  }, { points, r });
}

// Reads /proc: the host's child processes (of every thread) with their state
// (R, S, Z = zombie, …) and command name.
export function childProcesses(pid) {
  const kids = [];
  let tasks = [];
  try { tasks = fs.readdirSync(`/proc/${pid}/task`); } catch { return kids; }
  for (const tid of tasks) {
    let list = '';
    try { list = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8'); } catch { continue; }
    for (const child of list.trim().split(/\s+/).filter(Boolean)) {
      try {
        const stat = fs.readFileSync(`/proc/${child}/stat`, 'utf8');
        const m = stat.match(/^\d+ \((.*)\) (\S)/s);
        kids.push({ pid: Number(child), comm: m?.[1], state: m?.[2] });
      } catch { /* exited meanwhile */ }
    }
  }
  return kids;
}

// ---------- network faults ----------

// Like openPage, but runs init (a function or source) in the page before any
// of its own scripts, on every load of the context.
export function openPageWith(browser, host, { query = '', init } = {}) {
  return openURL(browser, new URL(query, host.url).href, { init });
}

// A TCP proxy on loopback in front of the host (signalling only: WebRTC media
// goes to the host directly over UDP), so a test can cut and restore the
// network without touching the host. cut() drops every connection and, until
// restore(), resets new ones (like a host that cannot be reached); with
// { hang: true } new connections are accepted and never answered (like a network
// that drops packets) and are reset at restore(). refuseUpgrade: answer every
// WebSocket handshake with 426, as a proxy that drops the Upgrade headers does,
// so the page signals over HTTP long-polling. upgrades counts those handshakes.
export async function startTcpProxy(host, { refuseUpgrade = false } = {}) {
  const net = await import('node:net');
  const target = new URL(host.url);
  const live = new Set(); // sockets of forwarded connections, both ends
  const held = new Set(); // connections accepted while cut with hang
  let state = 'open'; // open | reset | hang
  const proxy = { upgrades: 0, connections: 0 };
  const server = net.createServer((client) => {
    proxy.connections++;
    client.on('error', () => {});
    if (state === 'reset') { client.resetAndDestroy(); return; }
    if (state === 'hang') { held.add(client); client.on('close', () => held.delete(client)); return; }
    let head = Buffer.alloc(0);
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      if (head.indexOf('\r\n\r\n') < 0 && head.length < 16384) return;
      client.off('data', onData);
      client.pause();
      if (/^upgrade:\s*websocket/im.test(head.toString('latin1'))) {
        proxy.upgrades++;
        if (refuseUpgrade) {
          client.end('HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          return;
        }
      }
      const upstream = net.connect(Number(target.port), target.hostname);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      for (const s of [client, upstream]) { live.add(s); s.on('close', () => live.delete(s)); }
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    };
    client.on('data', onData);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dropAll = () => { for (const s of [...live, ...held]) s.resetAndDestroy(); live.clear(); held.clear(); };
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${server.address().port}/`,
    cut({ hang = false } = {}) { state = hang ? 'hang' : 'reset'; dropAll(); },
    restore() { state = 'open'; for (const s of held) s.resetAndDestroy(); held.clear(); },
    close() { dropAll(); return new Promise((resolve) => server.close(resolve)); },
  });
}

// Performance marks named couchplay:name so far in the page.
export function marks(page, name) {
  return page.evaluate((n) => performance.getEntriesByName(`couchplay:${n}`).length, name);
}

// launchBrowser with the back/forward cache on (playwright turns it off by default).
export function launchBrowserWithBfcache() {
  return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, ignoreDefaultArgs: ['--disable-back-forward-cache'] });
}

// ---------- access codes ----------

const SERVING_CODE = /couchplay: serving (http:\/\/\S+) \(room code (\d{4})\)/;
const JOIN_LINE = /couchplay: join (http:\/\/\S+#key=(\S+))/;

// Starts bin/couchplay with --access code on a free loopback port, with a
// pipe to its console (stdin: "kick N", "spectate N"). Resolves once /healthz
// answers with { url, code, key, joinURL, command(line), stop(), log }, the
// code and key read from the startup lines.
export async function startCodeHost({ rom = 'builtin:testcard', extraArgs = [] } = {}) {
  const { host, lines } = await spawnHost(['--access', 'code'], {
    rom, extraArgs, stdin: true,
    ready: (log) => {
      const serving = log.match(SERVING_CODE);
      const join = log.match(JOIN_LINE);
      return serving && join ? { serving, join } : null;
    },
  });
  Object.assign(host, {
    url: lines.serving[1],
    code: lines.serving[2],
    joinURL: lines.join[1],
    key: lines.join[2],
    command(line) { host.proc.stdin.write(`${line}\n`); },
  });
  return waitHealthy(host);
}

// Opens a page at an absolute URL (a join URL with #key=…) in a fresh
// context (camera and microphone granted; init: a script run before the
// page's own), collecting its console in page.consoleLog.
export async function openURL(browser, url, { init } = {}) {
  const origin = new URL(url).origin;
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  await context.grantPermissions(['camera', 'microphone'], { origin });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  page.consoleLog = [];
  page.on('console', (m) => page.consoleLog.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.consoleLog.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return page;
}

// ---------- the living room: a lossy relay (internal/lossyturn) ----------

export const relayBinary = process.env.COUCHPLAY_RELAY_BIN || path.join(repoRoot, 'bin', 'lossyturn');

// Starts bin/lossyturn on a free loopback port with conditions { up, down }
// (netem.Conditions: loss, burst, delayMs, jitterMs, reorder, rateKbps; up is
// browser -> host). The handle has port, set({up, down}), stats() and stop().
export async function startRelay({ up = {}, down = {}, seed = 1 } = {}) {
  if (!fs.existsSync(relayBinary)) throw new Error(`${relayBinary} is missing: run make build first`);
  const proc = spawn(relayBinary, ['-up', JSON.stringify(up), '-down', JSON.stringify(down), '-seed', String(seed)],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  stopOnExit(proc);
  let out = '', err = '';
  const waiters = []; // resolve functions waiting for the next reply line
  proc.stderr.on('data', (d) => { err += d; });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lossyturn did not start:\n${err}`)), START_MS);
    proc.stdout.on('data', (d) => {
      out += d;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = line.match(/^lossyturn: listening 127\.0\.0\.1:(\d+)$/);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); } else waiters.shift()?.(line);
      }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`lossyturn exited (${code}):\n${err}`)); });
  });
  const ask = (line) => new Promise((resolve) => { waiters.push(resolve); proc.stdin.write(`${line}\n`); });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return {
    port,
    pid: proc.pid,
    async set(conditions) {
      const reply = await ask(`set ${JSON.stringify(conditions)}`);
      if (reply !== 'ok') throw new Error(`lossyturn set: ${reply}`);
    },
    async stats() { return JSON.parse((await ask('stats')).replace(/^stats /, '')); },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

// An init script that makes every RTCPeerConnection of the page use only the
// relay on port: all its media then goes through the emulated link.
export function relayInit(port) {
  return `(() => {
    const Native = window.RTCPeerConnection;
    const relay = { urls: 'turn:127.0.0.1:${port}?transport=udp', username: 'couchplay', credential: 'couchplay' };
    class RelayedPeerConnection extends Native {
      constructor(config = {}) { super({ ...config, iceServers: [relay], iceTransportPolicy: 'relay' }); }
    }
    window.RTCPeerConnection = RelayedPeerConnection;
  })();`;
}

// A host whose picture is new faint noise every frame (the C test core's mode
// noise, make testdata): the encoder fills whatever rate it is given, so a cap
// on the link congests it, where the black test card fits under any cap.
export async function startNoiseHost() {
  const core = requireFile(path.join(testDataDir, 'testcore_libretro.so'));
  const rom = path.join(makeTempDir('couchplay-roms-'), 'Noise.tst');
  fs.writeFileSync(rom, 'mode noise\nformat xrgb8888\n');
  return startHost({ rom, extraArgs: ['--core', core, '--data', makeTempDir()] });
}

// Opens the host's page with its media through the relay.
export function openRelayedPage(browser, host, relay, query = '') {
  return openURL(browser, host.url + query, { init: relayInit(relay.port) });
}

// A level meter for what a page plays (an AudioWorklet processor named
// 'meter', its source text): it posts the loudest 128-sample quantum's RMS of
// every ~50 ms. Tests add it to the page's own AudioContext.
export const meterWorklet = `
  class Meter extends AudioWorkletProcessor {
    constructor() { super(); this.peak = 0; this.n = 0; }
    process(inputs) {
      const ch = inputs[0] && inputs[0][0];
      let s = 0;
      if (ch) for (let i = 0; i < ch.length; i++) s += ch[i] * ch[i];
      this.peak = Math.max(this.peak, ch ? Math.sqrt(s / ch.length) : 0);
      if (++this.n === 18) { this.port.postMessage(this.peak); this.peak = 0; this.n = 0; }
      return true;
    }
  }
  registerProcessor('meter', Meter);`;
