// Leaving: closing the page frees its slot at once (pagehide sends leave), and
// a page whose host goes away says so instead of hanging.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, launchBrowser, openPage, waitState, waitSlot, waitColour, health, poll, closeAll, serveAssetsOnly } from './helpers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(() => closeAll(browser, null));

test('closing a page frees its slot', async () => {
  const host = await startHost();
  try {
    const page = await openPage(browser, host);
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    assert.equal((await health(host)).players, 1);
    await page.close({ runBeforeUnload: true });
    await poll(async () => { const h = await health(host); return h.players === 0 && h.peers === 0; }, 'the slot and peer to be freed');

    // The freed slot is handed out again.
    const again = await openPage(browser, host);
    assert.equal(await waitSlot(again), '1');
    await again.context().close();
  } finally {
    await host.stop();
  }
});

test('a dropped connection rejoins the same slot and keeps playing', async () => {
  const host = await startHost();
  try {
    const first = await openPage(browser, host);
    assert.equal(await waitSlot(first), '1');
    const page = await openPage(browser, host);
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '2');

    // The signalling connection drops without a leave (Wi-Fi blip).
    await page.evaluate(() => window.couchplay.ws.close());
    // A second welcome: the page noticed the drop and joined again.
    await poll(() => page.evaluate(() => performance.getEntriesByName('couchplay:welcome').length >= 2), 'the page to rejoin');
    await waitState(page, 'playing');
    assert.equal(await page.evaluate(() => document.body.dataset.slot), '2');

    // Still player 2: A turns the test card red.
    await page.keyboard.down('KeyX');
    await waitColour(page, 'red');
    await page.keyboard.up('KeyX');
    await waitColour(page, 'black');
    assert.equal((await health(host)).players, 2);
    await page.context().close();
    await first.context().close();
  } finally {
    await host.stop();
  }
});

test('host goes away: the page shows an error', async () => {
  const host = await startHost();
  try {
    const page = await openPage(browser, host);
    await waitState(page, 'playing');
    await host.stop('SIGKILL');
    // The page retries for the 20 s the host would hold its slot, then says so.
    await waitState(page, 'error', 30_000);
    const msg = page.locator('#error');
    await msg.waitFor({ state: 'visible', timeout: 15_000 });
    assert.match(await msg.textContent(), /host/i);
    await page.context().close();
  } finally {
    await host.stop();
  }
});

test('no host behind the page: the page shows an error', async () => {
  // The page is served, but nothing answers the WebSocket (as when the host
  // stopped between serving the page and the page connecting).
  const server = await serveAssetsOnly();
  const page = await (await browser.newContext()).newPage();
  try {
    await page.goto(server.url);
    await waitState(page, 'error');
    const msg = page.locator('#error');
    await msg.waitFor({ state: 'visible', timeout: 15_000 });
    assert.match(await msg.textContent(), /Cannot reach the couchplay host/);
  } finally {
    await page.context().close();
    server.close();
  }
});
