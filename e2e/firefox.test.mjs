// The core scenarios in Firefox (issue 19): Debian's firefox-esr, headless,
// driven over WebDriver BiDi by puppeteer-core (firefox-helpers.mjs), against
// real hosts: join and play, key → picture (with Firefox's key → white
// figure), a second player and spectators, the touch pad and controller mode
// on a coarse-pointer Firefox with WebDriver touch actions, reconnection
// through a TCP proxy, the room code prompt, and one run across two network
// namespaces with real LAN ICE (no loopback pref, no media permission).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHost, startCodeHost, startTcpProxy, health, poll, marks, inboundStats, WAIT_MS,
} from './helpers.mjs';
import {
  launchFirefox, openFirefoxPage, ffWaitState, ffWaitSlot, ffWaitColour, colourNow, dataset, keyToWhite, median,
  offSiteAttempts, closeContexts, netnsUnavailable, makeLan, startHostIn, runClientIn,
} from './firefox-helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const token = (page) => page.evaluate(() => sessionStorage.getItem('couchplay.token'));
// Closes the page's tab. (Its browser context is closed after the test:
// closing a context kills its pages with no pagehide.)
const closePage = (page) => page.close();

// A desktop Firefox, and a "phone": a Firefox whose primary pointer is
// coarse. Firefox 153's BiDi has no emulation.setTouchOverride, so
// puppeteer's hasTouch cannot make (pointer: coarse) match; the LookAndFeel
// prefs below make Firefox report a touch screen as its pointer (what the
// page's touch pad shows for), and WebDriver touch actions (puppeteer's
// page.touchscreen) dispatch real touch pointer events (pointerType "touch").
let desktop;
let phone;
before(async () => {
  [desktop, phone] = await Promise.all([
    launchFirefox(),
    launchFirefox({ prefs: { 'ui.primaryPointerCapabilities': 1, 'ui.allPointerCapabilities': 1 } }), // 1 = coarse, no hover
  ]);
});
after(async () => {
  await desktop?.close().catch(() => {});
  await phone?.close().catch(() => {});
});

// Runs fn(host) with a fresh host (started by start), adding its log to a failure.
async function withHost(start, fn) {
  const host = await start();
  try {
    await fn(host);
  } catch (err) {
    err.message += `\n--- host log:\n${host.log}`;
    throw err;
  } finally {
    await host.stop();
    await closeContexts();
  }
}

test('Firefox joins and plays: slot 1, the picture turns white while KeyX is held (key → white figure)', () => withHost(startHost, async (host) => {
  const page = await openFirefoxPage(desktop, host.url);
  await ffWaitState(page, 'playing');
  assert.equal(await ffWaitSlot(page), '1');
  const ds = await dataset(page);
  assert.equal(ds.role, 'player');
  assert.equal(ds.signal, 'ws');
  await ffWaitColour(page, 'black');
  assert.equal((await health(host)).players, 1);
  // The picture comes over Firefox's own WebRTC stack.
  assert.equal(await page.evaluate(() => window.couchplay.pc?.connectionState), 'connected');
  assert.ok((await inboundStats(page, 'video'))?.framesDecoded > 0, 'Firefox decodes the video track');

  const seen = await keyToWhite(page, 10);
  assert.equal(seen.length, 10, 'every press turned the picture white');
  const m = median(seen);
  console.log(`Firefox ${await desktop.version()}: key → white (first white frame presented after keydown), median of ${seen.length} presses ${m.toFixed(1)} ms; all: ${seen.map((x) => x.toFixed(0)).join(', ')}`);
  // Loopback, one frame at 60 fps plus encode/decode: far below this unless input or video is broken.
  assert.ok(m < 250, `key → white median ${m.toFixed(1)} ms`);
  await ffWaitColour(page, 'black');
  await closePage(page);
}));

// Firefox closes a leaving page's WebSocket (1001) after beforeunload and
// before pagehide, so the page's own leave never goes out; the host takes
// the browser's 1001 as the leave.
test('Firefox: a page that navigates away frees its slot at once (not after the 20 s a dropped page gets)', () => withHost(startHost, async (host) => {
  const page = await openFirefoxPage(desktop, host.url);
  await ffWaitState(page, 'playing');
  assert.equal((await health(host)).players, 1);
  await page.goto(new URL('healthz', host.url).href);
  await poll(async () => (await health(host)).players === 0, 'the slot to be freed', 5000);
  await closePage(page);
}));

test('Firefox: a second player (slot 2, red) and spectators (?watch, and in another Firefox)', () => withHost(startHost, async (host) => {
  const p1 = await openFirefoxPage(desktop, host.url);
  assert.equal(await ffWaitSlot(p1), '1');
  const p2 = await openFirefoxPage(desktop, host.url);
  await ffWaitState(p2, 'playing');
  assert.equal(await ffWaitSlot(p2), '2');
  const watcher = await openFirefoxPage(desktop, new URL('?watch', host.url).href);
  const other = await openFirefoxPage(phone, new URL('?watch', host.url).href); // another browser instance
  for (const w of [watcher, other]) {
    await ffWaitState(w, 'playing');
    assert.equal(await ffWaitSlot(w), 'watch');
    assert.equal((await dataset(w)).role, 'spectator');
    assert.equal(await w.evaluate(() => document.getElementById('touchpad').hidden), true, 'a spectator has no pad');
  }
  await poll(async () => { const h = await health(host); return h.players === 2 && h.spectators === 2; }, '2 players and 2 spectators');

  // Player 2's A is red on every screen; a spectator's keys drive nothing.
  await p2.keyboard.down('KeyX');
  for (const p of [p1, p2, watcher, other]) await ffWaitColour(p, 'red');
  await p2.keyboard.up('KeyX');
  for (const p of [p1, p2, watcher, other]) await ffWaitColour(p, 'black');
  await watcher.keyboard.down('KeyX');
  await sleep(500);
  assert.equal(await colourNow(p1), 'black', "a spectator's KeyX does not play");
  await watcher.keyboard.up('KeyX');
  // Player 1's A is white, in the other Firefox too.
  await p1.keyboard.down('KeyX');
  await ffWaitColour(other, 'white');
  await p1.keyboard.up('KeyX');
  await ffWaitColour(other, 'black');
  for (const p of [p1, p2, watcher, other]) await closePage(p);
}));

// In the page before its scripts: logs the pointer type of every pointerdown.
function pointerSpy() {
  window.__pointers = [];
  addEventListener('pointerdown', (e) => window.__pointers.push(e.pointerType), true);
}

// The centre of selector's box in CSS px, checked to be wholly in the viewport.
async function centre(page, selector) {
  const b = await page.evaluate((s) => {
    const r = document.querySelector(s).getBoundingClientRect();
    return { x: r.left, y: r.top, w: r.width, h: r.height, vw: innerWidth, vh: innerHeight };
  }, selector);
  assert.ok(b.w > 0 && b.h > 0 && b.x >= 0 && b.y >= 0 && b.x + b.w <= b.vw && b.y + b.h <= b.vh,
    `${selector} is on screen: ${JSON.stringify(b)}`);
  return { x: b.x + b.w / 2, y: b.y + b.h / 2 };
}

test('Firefox touch pad: on a coarse pointer the pad shows, and holding the on-screen A (touch) turns the picture white', () => withHost(startHost, async (host) => {
  const page = await openFirefoxPage(phone, host.url, { viewport: { width: 390, height: 844 }, init: pointerSpy });
  await ffWaitState(page, 'playing');
  assert.equal(await ffWaitSlot(page), '1');
  assert.equal(await page.evaluate(() => matchMedia('(pointer: coarse)').matches), true);
  assert.equal(await page.evaluate(() => document.getElementById('touchpad').hidden), false, 'the touch pad shows');
  await ffWaitColour(page, 'black');
  const a = await centre(page, '.tbtn[data-btn="A"]');
  await page.touchscreen.touchStart(a.x, a.y);
  await ffWaitColour(page, 'white');
  assert.equal(await page.evaluate(() => document.querySelector('.tbtn[data-btn="A"]').classList.contains('pressed')), true);
  await page.touchscreen.touchEnd();
  await ffWaitColour(page, 'black');
  assert.deepEqual(await page.evaluate(() => window.__pointers), ['touch'], 'one touch pointer, no mouse');

  // The desktop Firefox (fine pointer) shows no pad.
  const desk = await openFirefoxPage(desktop, host.url);
  await ffWaitState(desk, 'playing');
  assert.equal(await desk.evaluate(() => document.getElementById('touchpad').hidden), true, 'no pad on a fine pointer');
  await closePage(desk);
  await closePage(page);
}));

test('Firefox controller mode (?pad): the pad shows with its P1 badge, gets no video, and its A (touch) drives the game', () => withHost(startHost, async (host) => {
  const pad = await openFirefoxPage(phone, new URL('?pad', host.url).href, { viewport: { width: 390, height: 844 }, init: pointerSpy });
  await ffWaitState(pad, 'playing');
  assert.equal(await ffWaitSlot(pad), '1');
  assert.equal((await dataset(pad)).mode, 'pad');
  assert.equal(await pad.evaluate(() => document.getElementById('touchpad').hidden), false, 'the pad shows');
  assert.equal(await pad.evaluate(() => document.getElementById('pad-badge').textContent), 'P1');
  const tv = await openFirefoxPage(desktop, new URL('?watch', host.url).href);
  await ffWaitState(tv, 'playing');
  await ffWaitColour(tv, 'black');

  const a = await centre(pad, '[data-btn="A"]');
  await pad.touchscreen.touchStart(a.x, a.y);
  await ffWaitColour(tv, 'white');
  await pad.touchscreen.touchEnd();
  await ffWaitColour(tv, 'black');
  assert.deepEqual(await pad.evaluate(() => window.__pointers), ['touch']);

  // No video for the pad (its join asked for none); the spectator decodes frames.
  await poll(async () => (await inboundStats(tv, 'video'))?.framesDecoded > 0, 'the spectator to decode video');
  const padVideo = await inboundStats(pad, 'video');
  assert.ok(!(padVideo?.framesDecoded > 0), `the pad decoded no video: ${JSON.stringify(padVideo)}`);
  assert.equal(await pad.evaluate(() => document.getElementById('screen').videoWidth), 0);
  await closePage(tv);
  await closePage(pad);
}));

test('Firefox reconnection: with the host unreachable for 4 s the page keeps trying, then rejoins its slot', () => withHost(startHost, async (host) => {
  const proxy = await startTcpProxy(host);
  try {
    const other = await openFirefoxPage(desktop, host.url); // slot 1, direct
    assert.equal(await ffWaitSlot(other), '1');
    const page = await openFirefoxPage(desktop, proxy.url);
    await ffWaitState(page, 'playing');
    assert.equal(await ffWaitSlot(page), '2');
    const tok = await token(page);
    assert.ok(tok, 'a session token');
    const before = await marks(page, 'welcome');

    const connections = proxy.connections;
    proxy.cut(); // every connection reset, new ones refused
    await ffWaitState(page, 'connecting', 10_000);
    const start = Date.now();
    while (Date.now() - start < 4000) {
      assert.notEqual((await dataset(page)).state, 'error', 'the page gave up');
      await sleep(250);
    }
    // Its retries back off from 100 ms to 2 s: about five in 4 s.
    assert.ok(proxy.connections - connections >= 3, `the page kept trying (${proxy.connections - connections} connections while cut)`);
    proxy.restore();

    await poll(async () => (await marks(page, 'welcome')) > before, 'the page to be welcomed again');
    await ffWaitState(page, 'playing');
    assert.equal((await dataset(page)).slot, '2', 'the same slot');
    assert.equal(await token(page), tok, 'the same session token');
    assert.match(host.log, /joined.*slot=2.*rejoined=true/, 'the host handed back the reserved slot');
    assert.equal((await health(host)).players, 2);
    await page.keyboard.down('KeyX');
    await ffWaitColour(page, 'red');
    await page.keyboard.up('KeyX');
    await ffWaitColour(page, 'black');
    await closePage(page);
    await closePage(other);
  } finally {
    await proxy.close();
  }
}));

test('Firefox room code: the bare URL asks for the code, refuses a wrong one, plays with the right one; the join URL needs none', () => withHost(startCodeHost, async (host) => {
  const page = await openFirefoxPage(desktop, host.url);
  await ffWaitState(page, 'code');
  assert.equal(await page.evaluate(() => document.getElementById('code-input').checkVisibility()), true, 'the code prompt shows');
  assert.equal((await dataset(page)).slot, undefined, 'no slot before the code');

  const wrong = host.code === '0000' ? '1111' : '0000';
  await page.type('#code-input', wrong);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /wrong code/i.test(document.getElementById('code-error').textContent), { timeout: WAIT_MS, polling: 50 });
  assert.equal((await dataset(page)).state, 'code', 'a wrong code keeps the prompt');
  assert.equal((await health(host)).players, 0);

  await page.waitForFunction(() => !document.getElementById('code-input').disabled, { timeout: WAIT_MS, polling: 50 });
  await page.evaluate(() => { document.getElementById('code-input').value = ''; });
  await page.type('#code-input', host.code);
  await page.keyboard.press('Enter');
  await ffWaitState(page, 'playing');
  assert.equal(await ffWaitSlot(page), '1');
  assert.equal(await page.evaluate(() => document.getElementById('code-prompt').checkVisibility()), false, 'the prompt is gone');
  await page.keyboard.down('KeyX');
  await ffWaitColour(page, 'white');
  await page.keyboard.up('KeyX');

  const joined = await openFirefoxPage(desktop, host.joinURL); // the QR code's URL: #key=…
  await ffWaitState(joined, 'playing');
  assert.equal(await ffWaitSlot(joined), '2');
  assert.equal((await health(host)).players, 2);
  await closePage(joined);
  await closePage(page);
}));

test('Firefox tried no connection off this machine (MOZ_DISABLE_NONLOCAL_CONNECTIONS refuses and reports each)', () => {
  assert.deepEqual(offSiteAttempts(desktop), []);
  assert.deepEqual(offSiteAttempts(phone), []);
});

test('Firefox on a LAN: host and browser in two network namespaces, real ICE over a veth (no loopback pref, no media permission)', async (t) => {
  const why = netnsUnavailable();
  if (why) { t.skip(`LAN test skipped: ${why}`); return; }
  let lan;
  try {
    lan = makeLan();
  } catch (err) {
    if (!err.unavailable) throw err;
    t.skip(`LAN test skipped: cannot make a network namespace: ${err.message}`);
    return;
  }
  let host;
  try {
    host = await startHostIn(lan.host, lan.hostIP);
    assert.ok(host.url.startsWith(`http://${lan.hostIP}:`), host.url);
    const r = await runClientIn(lan.browser, host.url);
    t.diagnostic(JSON.stringify(r));
    assert.equal(r.error, undefined, `the Firefox client failed: ${r.error}\n${(r.console ?? []).join('\n')}`);
    assert.deepEqual(r.steps, ['playing', 'black', 'white', 'black again']);
    assert.deepEqual(r.offSite, [], 'no connection attempt off the LAN');
    assert.equal(r.slot, '1');
    assert.equal(r.health.players, 1);
    // The pair in use joins the two veth ends: the host's address, and
    // Firefox's own LAN address (hidden behind an mDNS name, no media permission).
    assert.equal(r.ice.remote?.address, lan.hostIP, `ICE remote ${JSON.stringify(r.ice)}`);
    assert.equal(r.ice.remote?.protocol, 'udp');
    assert.ok(r.ice.local && (r.ice.local.address === lan.browserIP || /\.local$/.test(r.ice.local.address)),
      `ICE local ${JSON.stringify(r.ice)}`);
    assert.ok(r.ice.localCandidates.every((c) => !/^(127\.|::1$)/.test(c.address)), `no loopback candidates: ${JSON.stringify(r.ice.localCandidates)}`);
    console.log(`Firefox on the LAN (${lan.browserIP} → ${host.url}): playing, key → white seen after ${r.whiteAfterMs} ms; ICE ${r.ice.local.address} (${r.ice.local.type}) → ${r.ice.remote.address}:${r.ice.remote.port}`);
    // Nothing in the browser's namespace sent anything toward an address off
    // the LAN (its default route leads into the sink).
    assert.equal(lan.sinkPackets(), 0, 'packets went toward addresses outside the LAN');
  } catch (err) {
    if (host) err.message += `\n--- host log:\n${host.log}`;
    throw err;
  } finally {
    await host?.stop();
    lan.remove();
  }
});
