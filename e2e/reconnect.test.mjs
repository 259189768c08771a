// Seats that heal: a page that loses the host keeps trying for as long as the
// host holds its slot (20 s), over the transport it was on, then says so with a
// Retry button; a failed stream (ICE failed, a host `webrtc` error) is restarted
// by rejoining; a page restored from the back/forward cache reconnects.
// Signalling goes through a TCP proxy the test controls (startTcpProxy); the
// WebRTC media goes to the host directly over UDP loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHost, launchBrowser, openPage, waitState, waitSlot, waitColour, health, poll, closeAll,
  startTcpProxy, marks, launchBrowserWithBfcache,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(() => closeAll(browser, null));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const token = (page) => page.evaluate(() => sessionStorage.getItem('couchplay.token'));
const dataset = (page) => page.evaluate(() => ({ ...document.body.dataset }));

// Runs fn({host, proxy}) with a fresh host behind a fresh TCP proxy; adds the
// host log to a failure.
async function withProxy(opts, fn) {
  const host = await startHost();
  const proxy = await startTcpProxy(host, opts);
  try {
    await fn({ host, proxy });
  } catch (err) {
    err.message += `\n--- host log:\n${host.log}`;
    throw err;
  } finally {
    await proxy.close();
    await host.stop();
  }
}

// Waits for the page to have been welcomed more than `before` times and to play
// again, then checks it is the same player (slot, token, the host's log) and
// that its button still reaches the game.
async function rejoined(page, host, { before, slot, tok, colour, timeout = 15_000 }) {
  await poll(async () => (await marks(page, 'welcome')) > before, 'the page to be welcomed again', timeout);
  await waitState(page, 'playing');
  const ds = await dataset(page);
  assert.equal(ds.slot, slot, 'the same slot');
  assert.equal(await token(page), tok, 'the same session token');
  assert.match(host.log, new RegExp(`joined.*slot=${slot}.*rejoined=true`), 'the host handed back the reserved slot');
  await page.keyboard.down('KeyX');
  await waitColour(page, colour);
  await page.keyboard.up('KeyX');
  await waitColour(page, 'black');
}

// Cuts the proxy for ms, checking the page keeps trying (connecting, no error) meanwhile.
async function unreachableFor(page, proxy, ms, cut = {}) {
  const start = Date.now();
  proxy.cut(cut);
  // A WebSocket notices at once; poll after its request retries (~5 s). The video plays on meanwhile (UDP).
  await waitState(page, 'connecting', 10_000);
  while (Date.now() - start < ms) {
    const ds = await dataset(page);
    assert.notEqual(ds.state, 'error', `the page gave up after ${Date.now() - start} ms of ${ms}`);
    await sleep(500);
  }
  proxy.restore();
}

test('WebSocket: the page rejoins its slot after 15 s without the host', () => withProxy({}, async ({ host, proxy }) => {
  const other = await openPage(browser, host); // slot 1, direct
  assert.equal(await waitSlot(other), '1');
  const page = await openPage(browser, { url: proxy.url });
  await waitState(page, 'playing');
  assert.equal(await waitSlot(page), '2');
  assert.equal((await dataset(page)).signal, 'ws');
  const tok = await token(page);
  const before = await marks(page, 'welcome');

  await unreachableFor(page, proxy, 15_000);
  await rejoined(page, host, { before, slot: '2', tok, colour: 'red' });
  assert.equal((await dataset(page)).signal, 'ws');
  assert.equal((await health(host)).players, 2);
  await page.context().close();
  await other.context().close();
}));

test('poll: the page rejoins its slot after 15 s without the host, over poll again', () =>
  withProxy({ refuseUpgrade: true }, async ({ host, proxy }) => {
    const page = await openPage(browser, { url: proxy.url });
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    assert.equal((await dataset(page)).signal, 'poll', 'the WebSocket was refused: poll');
    const tok = await token(page);
    const before = await marks(page, 'welcome');
    const upgrades = proxy.upgrades;

    await unreachableFor(page, proxy, 15_000);
    await rejoined(page, host, { before, slot: '1', tok, colour: 'white' });
    assert.equal((await dataset(page)).signal, 'poll');
    assert.equal(proxy.upgrades, upgrades, 'no WebSocket attempts while reconnecting from poll mode');
    await page.context().close();
  }));

test('host unreachable past the 20 s the slot is held: an error with Retry, which plays again', () =>
  withProxy({}, async ({ host, proxy }) => {
    const page = await openPage(browser, { url: proxy.url });
    await waitState(page, 'playing');
    const start = Date.now();
    proxy.cut({ hang: true }); // connections hang: each attempt must time out by itself
    await waitState(page, 'error', 30_000);
    const gaveUp = Date.now() - start;
    assert.ok(gaveUp >= 19_000, `kept trying for the 20 s the host holds the slot (gave up after ${gaveUp} ms)`);
    assert.match(await page.locator('#error').textContent(), /Lost the connection to the couchplay host/);
    const retry = page.locator('#retry');
    assert.ok(await retry.isVisible(), 'a Retry button');

    proxy.restore();
    await retry.click();
    await waitState(page, 'playing');
    assert.equal(await page.locator('#error').isVisible(), false);
    assert.equal(await waitSlot(page), '1');
    await page.keyboard.down('KeyX');
    await waitColour(page, 'white');
    await page.keyboard.up('KeyX');
    await page.context().close();
  }));

// In the page: the stream fails as when ICE fails (Chromium gives no way to
// make real loopback ICE fail quickly): the peer connection is closed and its
// state change to "failed" is dispatched to the page's handler.
function iceFails() {
  const pc = window.couchplay.pc;
  pc.close();
  Object.defineProperty(pc, 'iceConnectionState', { value: 'failed' });
  pc.dispatchEvent(new Event('iceconnectionstatechange'));
}

// In the page: the host reports a webrtc error (its peer failed) on the signalling socket.
function hostWebrtcError() {
  window.couchplay.ws.onmessage({ data: JSON.stringify({ type: 'error', code: 'webrtc', message: 'peer failed: test' }) });
}

test('ICE failure and host webrtc errors: the page rejoins with a new offer, a bounded number of times, then Retry', async () => {
  const host = await startHost();
  try {
    const other = await openPage(browser, host);
    assert.equal(await waitSlot(other), '1');
    const page = await openPage(browser, host);
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '2');
    const tok = await token(page);

    let before = await marks(page, 'welcome');
    const offers = await marks(page, 'offer');
    await page.evaluate(iceFails);
    await rejoined(page, host, { before, slot: '2', tok, colour: 'red' });
    assert.ok(await marks(page, 'offer') > offers, 'a new offer');
    assert.equal(await page.evaluate(() => window.couchplay.pc.connectionState), 'connected');

    before = await marks(page, 'welcome');
    await page.evaluate(hostWebrtcError);
    await rejoined(page, host, { before, slot: '2', tok, colour: 'red' });

    before = await marks(page, 'welcome');
    await page.evaluate(iceFails);
    await poll(async () => (await marks(page, 'welcome')) > before, 'the third rejoin');
    await waitState(page, 'playing');

    // A fourth failure in a row (the stream never stayed up for 10 s): the page stops and offers Retry.
    await page.evaluate(iceFails);
    await waitState(page, 'error');
    assert.match(await page.locator('#error').textContent(), /ICE failed.*3 tries/);
    await page.locator('#retry').click();
    before = await marks(page, 'welcome');
    await waitState(page, 'playing');
    assert.equal((await dataset(page)).slot, '2');
    assert.equal((await health(host)).players, 2);
    await page.context().close();
    await other.context().close();
  } catch (err) {
    err.message += `\n--- host log:\n${host.log}`;
    throw err;
  } finally {
    await host.stop();
  }
});

test('back/forward cache: a restored page rejoins its slot', async () => {
  const host = await startHost();
  const bfBrowser = await launchBrowserWithBfcache();
  try {
    const page = await openPage(bfBrowser, host);
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    const tok = await token(page);
    await page.evaluate(() => { window.__sameDocument = true; });
    const before = await marks(page, 'welcome');

    await page.goto(new URL('healthz', host.url).href);
    await page.goBack();
    await page.waitForFunction(() => document.body?.dataset.state !== undefined, null, { timeout: 15_000 });
    const restored = await page.evaluate(() => window.__sameDocument === true);
    const reasons = await page.evaluate(() => JSON.stringify(performance.getEntriesByType('navigation')[0]?.notRestoredReasons?.reasons ?? null));
    if (restored) {
      console.log('bfcache: Chromium restored the page from the back/forward cache (a real pageshow, persisted)');
      assert.equal(await marks(page, 'pageshow-persisted'), 1);
      await rejoined(page, host, { before, slot: '1', tok, colour: 'white' });
    } else {
      // This Chromium did not keep the page (it loaded it afresh): play the
      // events a bfcache round trip dispatches in this fresh page instead.
      console.log(`bfcache: Chromium loaded the page afresh (not restored: ${reasons}); dispatching a synthetic pagehide + pageshow (persisted)`);
      await waitState(page, 'playing');
      const fresh = await marks(page, 'welcome');
      const slot = await waitSlot(page);
      const tok2 = await token(page);
      await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true })));
      await sleep(1000);
      await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })));
      await rejoined(page, host, { before: fresh, slot, tok: tok2, colour: 'white' });
    }
    assert.equal((await health(host)).players, 1);
    await page.context().close();
  } catch (err) {
    err.message += `\n--- host log:\n${host.log}`;
    throw err;
  } finally {
    await bfBrowser.close();
    await host.stop();
  }
});
