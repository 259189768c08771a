// Firefox for the e2e tests (e2e/firefox.test.mjs): Debian's firefox-esr,
// headless, driven over WebDriver BiDi by puppeteer-core (which never
// downloads a browser). Each launch gets a fresh temporary profile (puppeteer
// makes it and removes it at close) with the prefs below. Pages and pixels as
// in helpers.mjs, with puppeteer's API (page.waitForFunction(fn, options, ...args)).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import puppeteer from 'puppeteer-core';
import { hostBinary, installSampler, makeTempDir, stopOnExit, WAIT_MS } from './helpers.mjs';

export const firefoxPath = process.env.FIREFOX || '/usr/bin/firefox-esr';

// Firefox must not reach out to the internet (the machine's network is
// closed, and a test must not depend on it). puppeteer-core's own profile
// defaults already turn off app/add-on/search updates, safe-browsing lists,
// health reports and Shield; these turn off what is left of the background
// traffic.
export const quietPrefs = {
  'app.update.auto': false,
  'app.normandy.enabled': false,
  'app.shield.optoutstudies.enabled': false,
  // Captive-portal and connectivity checks fetch detectportal.firefox.com.
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  // No DNS over HTTPS, no DNS/link prefetch, no speculative connections.
  'network.trr.mode': 5,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.predictor.enabled': false,
  // No proxy from the environment: pages go straight to the host under test.
  'network.proxy.type': 0,
  // Telemetry and its pings.
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.archive.enabled': false,
  'toolkit.telemetry.server': '',
  'datareporting.usage.uploadEnabled': false,
  'browser.ping-centre.telemetry': false,
  'browser.discovery.enabled': false,
  // Safe-browsing list downloads (puppeteer turns the checks off, not the providers' updates).
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.safebrowsing.provider.google.updateURL': '',
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  // Remote settings (blocklists, search config, CRLite, …) fetch
  // firefox.settings.services.mozilla.com at startup. A release build takes
  // a server override only with MOZ_DISABLE_NONLOCAL_CONNECTIONS=1 (set by
  // launchFirefox), and this URL is its "skip all remote activity" value.
  'services.settings.server': 'data:,#remote-settings-dummy/v1',
  // Every host name resolves to 127.0.0.1 without asking the system's DNS
  // (the tests use IP addresses only): no name lookup leaves the machine.
  'network.dns.native-is-localhost': true,
  'security.remote_settings.crlite_filters.enabled': false,
  'security.remote_settings.intermediates.enabled': false,
  'extensions.systemAddon.update.enabled': false,
  'extensions.blocklist.enabled': false,
  // Region lookup, geolocation provider, push service, OpenH264/Widevine downloads.
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'geo.provider.network.url': '',
  'dom.push.connection.enabled': false,
  'dom.push.serverURL': '',
  'media.gmp-gmpopenh264.autoupdate': false,
  'media.gmp-gmpopenh264.enabled': false,
  'media.gmp-widevinecdm.enabled': false,
  'security.OCSP.enabled': 0,
  'browser.newtabpage.activity-stream.feeds.snippets': false,
  'browser.topsites.contile.enabled': false,
  'browser.translations.enable': false,
};

// The page plays sound with no click, as Chromium's
// --autoplay-policy=no-user-gesture-required does: without these Firefox
// blocks audible autoplay until a user gesture.
export const autoplayPrefs = {
  'media.autoplay.default': 0, // 0 = allow audible autoplay
  'media.autoplay.blocking_policy': 0, // 0 = no extra "sticky activation" rule
};

// WebRTC against a host that listens (and gathers ICE) on 127.0.0.1 only.
export const loopbackPrefs = {
  // Firefox never gathers ICE candidates on loopback interfaces without this.
  'media.peerconnection.ice.loopback': true,
  // Like Chromium, a Firefox page without camera/microphone permission gathers
  // only on the default route's address and hides it behind an mDNS name
  // (PeerConnectionImpl's default_address_only and obfuscate_host_addresses):
  // loopback is never the default route, so ICE to 127.0.0.1 fails. The e2e
  // Chromium grants camera and microphone for the same reason; Firefox's BiDi
  // permissions.setPermission does not support "camera" ("currently
  // unsupported"), so the default for every site is "allow". The page itself
  // never calls getUserMedia, so no fake devices or prompt prefs are needed.
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
};

// Launches headless Firefox over BiDi. loopback: add loopbackPrefs (tests of
// hosts on 127.0.0.1); without it Firefox gathers as it would on a LAN, with
// no permission granted. Firefox gets SIGTERM by PID if the test process ends
// while it runs (browser.close() stops it otherwise).
export async function launchFirefox({ loopback = true, prefs = {} } = {}) {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    protocol: 'webDriverBiDi',
    executablePath: firefoxPath,
    headless: true, // --headless
    extraPrefsFirefox: { ...quietPrefs, ...autoplayPrefs, ...(loopback ? loopbackPrefs : {}), ...prefs },
    // Mozilla's own test switch: Firefox refuses every connection to an
    // address that is not loopback or private (and says so on stderr, which
    // offSiteAttempts() reads), and honours the remote-settings override above.
    env: { ...process.env, MOZ_DISABLE_NONLOCAL_CONNECTIONS: '1' },
  });
  const proc = browser.process();
  browser.offSite = [];
  if (proc) {
    stopOnExit(proc);
    let partial = '';
    proc.stderr?.on('data', (d) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      browser.offSite.push(...lines.filter((l) => OFF_SITE.test(l)));
    });
  }
  return browser;
}

// Opens url in a fresh browser context (a BiDi user context: its own
// sessionStorage and cookies) and window, collecting its console in page.consoleLog.
// viewport: { width, height } (puppeteer's hasTouch needs BiDi's
// emulation.setTouchOverride, which Firefox 153 lacks);
// init: a function run in the page before its own scripts, on every load.
const contexts = new Set();
export async function openFirefoxPage(browser, url, { viewport, init } = {}) {
  const context = await browser.createBrowserContext();
  contexts.add(context);
  // A window of its own: a page in a background tab is hidden and its timers
  // run about once a second (measured), as in any background tab.
  const page = await context.newPage({ type: 'window' });
  page.consoleLog = [];
  page.on('console', (m) => page.consoleLog.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.consoleLog.push(`pageerror: ${e.message}`));
  if (viewport) await page.setViewport(viewport);
  if (init) await page.evaluateOnNewDocument(init);
  await page.goto(url);
  return page;
}

// Firefox's stderr lines about connections it refused to make off this
// machine and its LAN (MOZ_DISABLE_NONLOCAL_CONNECTIONS): "FATAL ERROR:
// Non-local network connections are disabled and a connection attempt to
// HOST (IP) was made." Checked by hand: navigating to http://8.8.8.8/ prints
// it and no connect() reaches the kernel.
const OFF_SITE = /Non-local network connections are disabled|connect to non-local address/i;
export function offSiteAttempts(browser) {
  return browser.offSite;
}

// Closes every browser context openFirefoxPage made (and their pages, with
// no pagehide: close a page first where its leave matters).
export async function closeContexts() {
  const all = [...contexts];
  contexts.clear();
  await Promise.all(all.map((c) => c.close().catch(() => {})));
}

export const dataset = (page) => page.evaluate(() => ({ ...document.body.dataset }));

export async function ffWaitState(page, state, timeout = WAIT_MS) {
  try {
    await page.waitForFunction((s) => document.body.dataset.state === s, { timeout, polling: 50 }, state);
  } catch (err) {
    const info = await page.evaluate(() => ({ ...document.body.dataset, error: document.getElementById('error')?.textContent })).catch(() => ({}));
    throw new Error(`Firefox page never reached state ${state}: ${JSON.stringify(info)}\nconsole:\n${page.consoleLog.join('\n')}`, { cause: err });
  }
}

export async function ffWaitSlot(page, timeout = WAIT_MS) {
  await page.waitForFunction(() => document.body.dataset.slot !== undefined, { timeout, polling: 50 });
  return page.evaluate(() => document.body.dataset.slot);
}

// Waits until the picture is the named flat colour (helpers.mjs's sampler:
// the <video> drawn into a canvas).
export async function ffWaitColour(page, colour, timeout = WAIT_MS) {
  await installSampler(page);
  try {
    await page.waitForFunction((want) => window.__colour(window.__sample()) === want, { timeout, polling: 50 }, colour);
  } catch (err) {
    const s = await page.evaluate(() => window.__sample()).catch(() => null);
    throw new Error(`Firefox picture never turned ${colour}; last sample ${JSON.stringify(s)}\nconsole:\n${page.consoleLog.join('\n')}`, { cause: err });
  }
}

// The colour of the picture now ('white', 'black', 'red', …, or 'none' before a frame).
export async function colourNow(page) {
  await installSampler(page);
  return page.evaluate(() => window.__colour(window.__sample()));
}

// In the page: timestamps each KeyX keydown and, for every presented video
// frame (requestVideoFrameCallback), records the first white one after it.
function keyProbe() {
  const v = document.getElementById('screen');
  const c = document.createElement('canvas');
  c.width = 8; c.height = 8;
  const g = c.getContext('2d', { willReadFrequently: true });
  const probe = window.__keyProbe = { keydown: null, white: false, seen: [] };
  addEventListener('keydown', (e) => {
    if (e.code === 'KeyX' && !e.repeat) { probe.keydown = e.timeStamp; probe.got = false; }
  }, true);
  const tick = (now, meta) => {
    g.drawImage(v, 0, 0, 8, 8);
    const d = g.getImageData(4, 4, 1, 1).data;
    probe.white = d[0] > 180 && d[1] > 180 && d[2] > 180;
    if (probe.white && probe.keydown !== null && !probe.got) {
      probe.got = true;
      probe.seen.push((meta.presentationTime ?? now) - probe.keydown);
    }
    v.requestVideoFrameCallback(tick);
  };
  v.requestVideoFrameCallback(tick);
}

// Presses KeyX n times (held until the picture is white, released until it
// is black, random gaps so presses land at every phase of the frame clock)
// and returns each press's keydown → first white frame presented, in ms.
export async function keyToWhite(page, n = 10) {
  await page.evaluate(keyProbe);
  const opts = { timeout: WAIT_MS, polling: 10 };
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, 60 + Math.random() * 90));
    await page.keyboard.down('KeyX');
    await page.waitForFunction((k) => window.__keyProbe.seen.length > k, opts, i);
    await page.keyboard.up('KeyX');
    await page.waitForFunction(() => !window.__keyProbe.white, opts);
    await page.evaluate(() => { window.__keyProbe.keydown = null; });
  }
  return page.evaluate(() => window.__keyProbe.seen);
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ---------- a LAN of two network namespaces ----------

// Why the LAN test cannot run here (null when it can): it needs root and `ip netns`.
export function netnsUnavailable() {
  if (process.getuid?.() !== 0) return 'needs root to make network namespaces';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.error) return `needs iproute2's ip: ${r.error.message}`;
  if (r.status !== 0) return `ip netns unavailable: ${r.stderr.trim()}`;
  return null;
}

function ip(...args) {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}

// Makes two namespaces joined by a veth pair, a LAN of its own: host
// (hostIP/24) and browser (browserIP/24). The browser's namespace has a
// default route, as a LAN device has (Firefox without media permission
// gathers only on the default route's address), but it leads into a sink:
// a second veth pair whose both ends are in the browser's namespace, so
// nothing sent toward any other address leaves it (sinkPackets() counts
// what arrived there). Multicast (mDNS) goes onto the LAN. remove() deletes
// both namespaces and with them every link. Throws if a step fails
// (removing what it made); err.unavailable if no namespace can be made.
export function makeLan({ hostIP = '10.99.7.1', browserIP = '10.99.7.2' } = {}) {
  const tag = process.pid;
  const lan = { host: `cp-ffhost-${tag}`, browser: `cp-ffpage-${tag}`, hostIP, browserIP };
  const made = [];
  lan.remove = () => {
    const errors = [];
    for (const ns of made.splice(0).reverse()) {
      try { ip('netns', 'del', ns); } catch (err) { errors.push(err.message); }
    }
    if (errors.length) throw new Error(errors.join('\n'));
  };
  // Removed at exit too, if the test process ends before remove().
  const atExit = () => { try { lan.remove(); } catch { /* reported by remove() */ } };
  process.on('exit', atExit);
  const remove = lan.remove;
  lan.remove = () => { process.off('exit', atExit); remove(); };
  for (const ns of [lan.host, lan.browser]) {
    try {
      ip('netns', 'add', ns);
    } catch (err) {
      lan.remove();
      err.unavailable = true; // the test skips: this machine cannot make namespaces
      throw err;
    }
    made.push(ns);
  }
  try {
    ip('-n', lan.host, 'link', 'add', 'cp-lan0', 'type', 'veth', 'peer', 'name', 'cp-lan1', 'netns', lan.browser);
    ip('-n', lan.browser, 'link', 'add', 'cp-sink0', 'type', 'veth', 'peer', 'name', 'cp-sink1');
    for (const [ns, dev, addr] of [[lan.host, 'cp-lan0', hostIP], [lan.browser, 'cp-lan1', browserIP]]) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'multicast', 'on', 'up');
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', dev);
    }
    // IPv6 off on the sink, so the kernel's own neighbour discovery does not count as traffic there.
    for (const dev of ['cp-sink0', 'cp-sink1']) {
      const r = spawnSync('ip', ['netns', 'exec', lan.browser, 'sh', '-c', `echo 1 > /proc/sys/net/ipv6/conf/${dev}/disable_ipv6`], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`disable IPv6 on ${dev}: ${r.stderr}`);
      ip('-n', lan.browser, 'link', 'set', dev, 'up');
    }
    ip('-n', lan.browser, 'route', 'add', 'default', 'dev', 'cp-sink0', 'src', browserIP);
  } catch (err) {
    try { lan.remove(); } catch (e) { err.message += `\n${e.message}`; }
    throw err;
  }
  // Packets (any protocol, ARP too) that reached the sink since it was made.
  lan.sinkPackets = () => JSON.parse(ip('-n', lan.browser, '-j', '-s', 'link', 'show', 'cp-sink1'))[0].stats64.rx.packets;
  return lan;
}

// Runs bin/couchplay headless in ns on ip (ICE gathers there only), with
// the test card and open access, until it prints its serving line. The
// handle has url, log and stop() (SIGTERM by PID, then SIGKILL).
export async function startHostIn(ns, hostIP) {
  if (!fs.existsSync(hostBinary)) throw new Error(`${hostBinary} is missing: run make build first`);
  const args = ['netns', 'exec', ns, hostBinary, '--headless', '--listen', `${hostIP}:0`, '--no-mdns',
    '--access', 'open', '--rom', 'builtin:testcard'];
  // `ip netns exec` execs the host: the PID is the host's.
  const proc = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_CONFIG_HOME: makeTempDir('couchplay-ff-config-') } });
  stopOnExit(proc);
  let log = '';
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const host = {
    proc,
    get log() { return log; },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  host.url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the host in ${ns} did not serve within ${WAIT_MS} ms:\n${log}`)), WAIT_MS);
    const onData = (d) => {
      log += d;
      const m = log.match(/couchplay: serving (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1].endsWith('/') ? m[1] : `${m[1]}/`); }
    };
    proc.stdout.on('data', (d) => { log += d; });
    proc.stderr.on('data', onData);
    proc.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`the host in ${ns} exited (${code ?? sig}):\n${log}`)); });
  }).catch(async (err) => { await host.stop(); throw err; });
  return host;
}

// Runs firefox-netns-client.mjs in ns against url and resolves with its
// result (see that file), bounded by timeout. Whatever happens, the client
// and its Firefox (by its process group) are stopped.
export async function runClientIn(ns, url, timeout = 60_000) {
  const script = fileURLToPath(new URL('./firefox-netns-client.mjs', import.meta.url));
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, script, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  stopOnExit(proc);
  let stdout = '', stderr = '';
  let firefoxPid = null;
  proc.stdout.on('data', (d) => {
    stdout += d;
    firefoxPid ??= stdout.match(/"firefoxPid":(\d+)/)?.[1];
  });
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  // Past timeout: SIGTERM (puppeteer then closes Firefox), 5 s later SIGKILL.
  const term = setTimeout(() => proc.kill('SIGTERM'), timeout);
  const kill = setTimeout(() => proc.kill('SIGKILL'), timeout + 5000);
  await exited;
  clearTimeout(term);
  clearTimeout(kill);
  const line = stdout.split('\n').find((l) => l.startsWith('{"result":'));
  // With no result the client did not close its Firefox: stop its process group.
  if (!line && firefoxPid) { try { process.kill(-Number(firefoxPid), 'SIGKILL'); } catch { /* already gone */ } }
  if (!line) throw new Error(`the Firefox client in ${ns} gave no result (exit ${proc.exitCode ?? proc.signalCode}):\n${stdout}\n${stderr}`);
  return JSON.parse(line).result;
}
