// Leaving: closing the page frees its slot at once (pagehide sends leave), and
// a page whose host goes away says so instead of hanging.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, launchBrowser, openPage, waitState, waitSlot, health, poll, closeAll, serveAssetsOnly } from './helpers.mjs';

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

test('host goes away: the page shows an error', async () => {
  const host = await startHost();
  try {
    const page = await openPage(browser, host);
    await waitState(page, 'playing');
    await host.stop('SIGKILL');
    await waitState(page, 'error');
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
