// Several pages at once: each gets its own player slot and controls its own
// player; ?watch, a taken ?slot= and a fifth joiner become spectators.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHost, launchBrowser, openPage, waitState, waitSlot, waitColour, health, poll, closeAll,
} from './helpers.mjs';

let browser;
let host;
before(async () => {
  browser = await launchBrowser();
  host = await startHost();
});
after(() => closeAll(browser, host));

test('two pages get slots 1 and 2 and each drives its own player', async () => {
  const p1 = await openPage(browser, host);
  assert.equal(await waitSlot(p1), '1');
  const p2 = await openPage(browser, host);
  assert.equal(await waitSlot(p2), '2');
  await Promise.all([waitState(p1, 'playing'), waitState(p2, 'playing')]);

  // Player 2's A: red in both pages (everyone sees the same picture).
  await p2.keyboard.down('KeyX');
  await Promise.all([waitColour(p1, 'red'), waitColour(p2, 'red')]);
  await p2.keyboard.up('KeyX');
  await Promise.all([waitColour(p1, 'black'), waitColour(p2, 'black')]);

  // Player 1's A: white.
  await p1.keyboard.down('KeyX');
  await Promise.all([waitColour(p1, 'white'), waitColour(p2, 'white')]);
  await p1.keyboard.up('KeyX');
  await Promise.all([waitColour(p1, 'black'), waitColour(p2, 'black')]);

  await p1.context().close();
  await p2.context().close();
  await poll(async () => (await health(host)).players === 0, 'both slots to be freed');
});

test('spectators: ?watch, a taken ?slot=1, and the fifth joiner', async () => {
  const pages = [];
  const open = async (q) => { const p = await openPage(browser, host, q); pages.push(p); return p; };
  try {
    const first = await open('');
    assert.equal(await waitSlot(first), '1');

    const watcher = await open('?watch');
    assert.equal(await waitSlot(watcher), 'watch');
    await waitState(watcher, 'playing');

    const taken = await open('?slot=1');
    assert.equal(await waitSlot(taken), 'watch');
    const notice = await taken.locator('#notice');
    await notice.waitFor({ state: 'visible', timeout: 15_000 });
    assert.ok((await notice.textContent()).trim().length > 0, 'notice has text');

    const rest = [];
    for (const want of ['2', '3', '4']) {
      const p = await open('');
      assert.equal(await waitSlot(p), want);
      rest.push(p);
    }
    const fifth = await open('');
    assert.equal(await waitSlot(fifth), 'watch');
    await waitState(fifth, 'playing');

    const h = await health(host);
    assert.equal(h.players, 4);
    assert.ok(h.spectators >= 3, `spectators ${h.spectators}`);
  } finally {
    for (const p of pages) await p.context().close().catch(() => {});
  }
  await poll(async () => { const h = await health(host); return h.players === 0 && h.spectators === 0; }, 'everyone to leave');
});
