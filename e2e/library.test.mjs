// The game library: player 1 opens the Games panel and starts the Test Card;
// every page follows without reloading, and only player 1 gets the panel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startHost, launchBrowser, openPage, waitState, waitSlot, waitColour, waitGame, sample, closeAll, WAIT_MS,
  testDataDir, requireFile, makeTempDir,
} from './helpers.mjs';

let browser;
let host;
before(async () => {
  browser = await launchBrowser();
  host = await startHost({ rom: null }); // starts on Light Cycles
});
after(() => closeAll(browser, host));

// Holds for ms that the picture never turns colour.
async function staysNot(page, colour, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const c = await page.evaluate(() => window.__colour(window.__sample()));
    assert.notEqual(c, colour, `the picture turned ${colour}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('player 1 starts the Test Card from the Games panel; every page follows', async () => {
  const p1 = await openPage(browser, host);
  await waitState(p1, 'playing');
  assert.equal(await waitSlot(p1), '1');
  const p2 = await openPage(browser, host);
  await waitState(p2, 'playing');
  assert.equal(await waitSlot(p2), '2');
  const spectator = await openPage(browser, host, '?watch');
  await waitState(spectator, 'playing');
  for (const page of [p1, p2, spectator]) await waitGame(page, 'Light Cycles');

  // Only player 1 has the Games button.
  assert.ok(await p1.locator('#games-button').isVisible(), 'player 1 sees the Games button');
  assert.equal(await p2.locator('#games-button').isVisible(), false, 'player 2 has no Games button');
  assert.equal(await spectator.locator('#games-button').isVisible(), false, 'a spectator has no Games button');
  await p2.keyboard.press('F2');
  assert.equal(await p2.locator('#games-panel').isVisible(), false, 'F2 opens no panel for player 2');

  // The panel lists the library; F2 opens it, Escape closes it, so does the close button.
  await p1.keyboard.press('F2');
  const panel = p1.locator('#games-panel');
  await panel.waitFor({ state: 'visible', timeout: WAIT_MS });
  await p1.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden', timeout: WAIT_MS });
  await p1.locator('#games-button').click();
  await panel.waitFor({ state: 'visible', timeout: WAIT_MS });
  const testCard = p1.locator('#games-list li[data-id="builtin:testcard"]');
  await testCard.waitFor({ timeout: WAIT_MS });
  assert.match(await testCard.textContent(), /Test Card/);
  assert.match(await testCard.textContent(), /built-in/);
  assert.match(await p1.locator('#games-list li[data-id="builtin:game"]').textContent(), /Light Cycles/);
  await p1.locator('#games-close').click();
  await panel.waitFor({ state: 'hidden', timeout: WAIT_MS });

  await p1.locator('#games-button').click();
  await testCard.locator('button.play').click();
  for (const page of [p1, p2, spectator]) await waitGame(page, 'Test Card');
  await panel.waitFor({ state: 'hidden', timeout: WAIT_MS }); // it closes once the game runs
  assert.equal(await p2.evaluate(() => document.body.dataset.state), 'playing');

  // Player 2's A (key X) is red on the test card.
  await waitColour(p2, 'black');
  await p2.keyboard.down('KeyX');
  await waitColour(p2, 'red');
  await p2.keyboard.up('KeyX');
  await waitColour(p2, 'black');
  const s = await sample(p2);
  assert.equal(`${s.w}x${s.h}`, '256x240');

  // Player 1's keys reach the game with the panel closed...
  await p1.keyboard.down('KeyX');
  await waitColour(p1, 'white');
  await p1.keyboard.up('KeyX');
  await waitColour(p1, 'black');
  // ...and not while it is open.
  await p1.keyboard.press('F2');
  await panel.waitFor({ state: 'visible', timeout: WAIT_MS });
  await p1.keyboard.down('KeyX');
  await staysNot(p1, 'white', 1000);
  await p1.keyboard.up('KeyX');

  // A built-in has no save states: the console's error shows, the page stays playing.
  await p1.locator('#state-slot').selectOption('3');
  await p1.locator('#state-save').click();
  const toast = p1.locator('#toast');
  await toast.waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.match(await toast.textContent(), /Test Card has no save states/);
  assert.equal(await p1.evaluate(() => document.body.dataset.state), 'playing');
  await p1.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden', timeout: WAIT_MS });

  // Stop goes back to Light Cycles for everyone.
  await p1.keyboard.press('F2');
  await p1.locator('#game-stop').click();
  for (const page of [p1, p2, spectator]) await waitGame(page, 'Light Cycles');

  for (const page of [p1, p2, spectator]) await page.context().close();
});

// Two ROMs of one name (two folders, or two extensions) are two entries the
// panel tells apart, each with its own saves; no id or problem in the page
// names a host path.
test('games of one name are told apart, and the page is sent no host path', async (t) => {
  requireFile(path.join(testDataDir, 'testcore_libretro.so'));
  const roms = makeTempDir('couchplay-roms-');
  const data = makeTempDir('couchplay-data-');
  for (const dir of ['USA', 'EUR']) {
    fs.mkdirSync(path.join(roms, dir));
    fs.writeFileSync(path.join(roms, dir, 'Zelda.tst'), `mode normal\nregion ${dir}\n`);
  }
  fs.writeFileSync(path.join(roms, 'hello.tst'), 'mode normal\n');
  fs.writeFileSync(path.join(roms, 'hello.tstz'), 'mode normal\ncolour\n');
  fs.writeFileSync(path.join(roms, 'Broken.zip'), 'not a zip'); // listed, with no core for it
  const h = await startHost({ rom: null, extraArgs: ['--roms', roms, '--cores-dir', testDataDir, '--data', data] });
  t.after(() => h.stop());
  const p1 = await openPage(browser, h);
  await waitState(p1, 'playing');
  await p1.locator('#games-button').click();
  const items = p1.locator('#games-list li');
  await p1.locator('#games-list li', { hasText: 'Zelda (EUR)' }).waitFor({ timeout: WAIT_MS });
  const listed = await items.evaluateAll((els) => els.map((el) => ({ id: el.dataset.id, text: el.textContent })));
  t.diagnostic(JSON.stringify(listed));
  const named = (name) => listed.filter((g) => g.text.startsWith(name));
  for (const name of ['Zelda (USA)', 'Zelda (EUR)', 'hello (tst)', 'hello (tstz)', 'Broken']) {
    assert.equal(named(name).length, 1, `one entry named ${name}`);
  }
  assert.equal(new Set(listed.map((g) => g.id)).size, listed.length, 'every entry has its own id');
  for (const g of listed) {
    for (const hostPath of [roms, data, testDataDir, '/usr/lib']) {
      assert.ok(!g.id.includes(hostPath) && !g.text.includes(hostPath), `${JSON.stringify(g)} names ${hostPath}`);
    }
  }
  assert.match(named('Broken')[0].text, /no core found/);

  // Each Zelda saves its own state: slot 1 of one does not overwrite the other's.
  for (const name of ['Zelda (USA)', 'Zelda (EUR)']) {
    if (!(await p1.locator('#games-panel').isVisible())) await p1.locator('#games-button').click();
    await p1.locator('#games-list li', { hasText: name }).locator('button.play').click();
    await p1.locator('#games-panel').waitFor({ state: 'hidden', timeout: WAIT_MS }); // it closes once the game runs
    await waitGame(p1, 'Zelda');
    await p1.locator('#games-button').click();
    await p1.locator('#games-list li.current', { hasText: name }).waitFor({ timeout: WAIT_MS });
    await p1.locator('#state-slot').selectOption('1');
    await p1.locator('#state-save').click();
    await p1.locator('#toast', { hasText: 'Saved state 1' }).waitFor({ timeout: WAIT_MS });
    await p1.keyboard.press('Escape');
  }
  const states = fs.readdirSync(path.join(data, 'states')).filter((f) => f.endsWith('.state1'));
  assert.equal(states.length, 2, `one state file per Zelda: ${states}`);
  await p1.context().close();
});
