// Real libretro cores behind the page: Debian's nestopia with four players on
// the NES test ROM (quad.nes), switching games while four pages play, a core
// that crashes or hangs (the C test core), and broken ROMs from the library.
// The cores run in child processes of the host; the host must outlive them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  startHost, launchBrowser, openPage, waitState, waitSlot, waitGame, poll, closeAll, health, inboundStats,
  testDataDir, coresCacheDir, requireFile, makeTempDir, pixelsAt, childProcesses, WAIT_MS,
} from './helpers.mjs';

// make testdata makes these; a missing one fails the test (never a skip).
const quadROM = () => requireFile(path.join(testDataDir, 'quad.nes'));
const coreDirs = () => {
  requireFile(path.join(testDataDir, 'testcore_libretro.so'));
  requireFile(path.join(coresCacheDir, 'nestopia_libretro.so'));
  return ['--cores-dir', testDataDir, '--cores-dir', coresCacheDir];
};

// nestopia (Debian 1.52, default palette) crops 8 lines top and bottom: 256x224.
// Quadrants split at x=128 and y=128 of the 240-line picture (120 here).
const NES = { w: 256, h: 224, points: [[64, 50], [192, 50], [64, 170], [192, 170]] };
// What this nestopia outputs for the ROM's palette entries $16, $2A, $21, $28
// (measured from the core's own frames, before any encoding).
const NES_LIT = [[0xd2, 0x2c, 0x00], [0x3a, 0xd5, 0x4a], [0x1f, 0xa5, 0xfe], [0xc4, 0xb2, 0x00]];
// The test core: 160x144, quadrant N white while port N-1 holds A.
const TESTCORE = { w: 160, h: 144, points: [[40, 36], [120, 36], [40, 108], [120, 108]] };
const WHITE = [255, 255, 255];
const TOLERANCE = 40; // per channel: VP8 is lossy
const DARK = 40;

let browser;
before(async () => { browser = await launchBrowser(); });
after(() => browser?.close());

// Starts a host with a fresh --data dir; stopped by the test's own cleanup.
async function host(t, args) {
  const h = await startHost({ rom: null, extraArgs: [...args, '--data', makeTempDir()] });
  t.after(() => h.stop());
  return h;
}

function matches(got, want) {
  if (!want) return got.every((v) => v <= DARK);
  return got.every((v, k) => Math.abs(v - want[k]) <= TOLERANCE);
}

// Waits until the page's picture has the screen's size and each quadrant
// shows want[i] (a colour, or null for dark).
async function waitQuadrants(page, screen, want, what) {
  let last = null;
  try {
    await poll(async () => {
      last = await pixelsAt(page, screen.points);
      return last && last.w === screen.w && last.h === screen.h && last.colours.every((c, i) => matches(c, want[i]));
    }, what, WAIT_MS, 40);
  } catch (err) {
    throw new Error(`${err.message}; last picture ${JSON.stringify(last)}, want ${screen.w}x${screen.h} ${JSON.stringify(want)}`, { cause: err });
  }
}
const lit = (n, colour, count = 4) => Array.from({ length: count }, (_, i) => (i === n ? colour : null));
const dark = [null, null, null, null];

async function joinPlayers(h, n) {
  const pages = [];
  for (let i = 1; i <= n; i++) {
    const page = await openPage(browser, h);
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), String(i), `page ${i} is player ${i}`);
    pages.push(page);
  }
  return pages;
}

async function videoSize(page) {
  return page.evaluate(() => ({ w: document.getElementById('screen').videoWidth, h: document.getElementById('screen').videoHeight }));
}

// Player 1 opens the Games panel and presses Play on the entry named name
// (library ids name no host path, so the test finds the game as a user does).
async function playFromPanel(page, name) {
  await page.locator('#games-button').click();
  await page.locator('#games-panel').waitFor({ state: 'visible', timeout: WAIT_MS });
  const play = page.locator('#games-list').getByRole('button', { name: `Play ${name}`, exact: true });
  await play.waitFor({ timeout: WAIT_MS });
  await play.click();
}

test('four players on nestopia: each one lights exactly its quadrant on the spectator\'s screen', async (t) => {
  const h = await host(t, ['--rom', quadROM(), ...coreDirs()]);
  const players = await joinPlayers(h, 4);
  const spectator = await openPage(browser, h, '?watch');
  await waitState(spectator, 'playing');
  assert.equal(await waitSlot(spectator), 'watch');
  for (const page of [...players, spectator]) await waitGame(page, 'quad');
  assert.equal((await health(h)).players, 4);

  await waitQuadrants(spectator, NES, dark, 'an all-dark NES picture');
  for (let i = 0; i < 4; i++) {
    await players[i].keyboard.down('KeyX');
    await waitQuadrants(spectator, NES, lit(i, NES_LIT[i]), `player ${i + 1}'s quadrant alone lit`);
    await players[i].keyboard.up('KeyX');
    await waitQuadrants(spectator, NES, dark, `all dark after player ${i + 1} let go`);
  }
  for (const page of [...players, spectator]) await page.context().close();
});

test('switching games while four pages play: every page follows without reloading', async (t) => {
  const roms = makeTempDir('couchplay-roms-');
  const quad = path.join(roms, 'quad.nes');
  const quads = path.join(roms, 'Quads.tst');
  fs.copyFileSync(quadROM(), quad);
  fs.writeFileSync(quads, 'mode normal\n');
  const h = await host(t, ['--rom', quad, '--roms', roms, ...coreDirs()]);
  const players = await joinPlayers(h, 4);
  for (const page of players) {
    await waitGame(page, 'quad');
    await page.evaluate(() => { window.__noReload = 'still here'; });
  }
  await waitQuadrants(players[0], NES, dark, 'the NES picture');

  await playFromPanel(players[0], 'Quads');
  for (const page of players) {
    await waitGame(page, 'Quads');
    await poll(async () => { const s = await videoSize(page); return s.w === 160 && s.h === 144; },
      'the video to become 160x144');
  }
  await players[0].locator('#games-panel').waitFor({ state: 'hidden', timeout: WAIT_MS });
  await players[2].keyboard.down('KeyX');
  await waitQuadrants(players[0], TESTCORE, lit(2, WHITE), 'player 3 lighting the bottom-left quadrant');
  await players[2].keyboard.up('KeyX');
  await waitQuadrants(players[0], TESTCORE, dark, 'the test core\'s dark picture');

  await playFromPanel(players[0], 'quad');
  for (const page of players) {
    await waitGame(page, 'quad');
    await poll(async () => { const s = await videoSize(page); return s.w === NES.w && s.h === NES.h; },
      `the video to be ${NES.w}x${NES.h} again`);
  }
  await players[3].keyboard.down('KeyX');
  await waitQuadrants(players[1], NES, lit(3, NES_LIT[3]), 'player 4 lighting the bottom-right quadrant');
  await players[3].keyboard.up('KeyX');
  for (const page of players) {
    assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'the page did not reload');
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'playing');
  }
  for (const page of players) await page.context().close();
});

// The host's children: exactly one couchplay (the running core), no zombie.
async function waitOneCoreChild(h) {
  let kids = [];
  try {
    await poll(() => {
      kids = childProcesses(h.pid);
      return kids.every((k) => k.state !== 'Z') && kids.filter((k) => k.comm === 'couchplay').length === 1;
    }, 'one couchplay child and no zombie');
  } catch (err) {
    throw new Error(`${err.message}; children of the host: ${JSON.stringify(kids)}`, { cause: err });
  }
}

async function waitCrash(page, texts, timeout = WAIT_MS) {
  try {
    await page.waitForFunction((want) => {
      const el = document.getElementById('crash');
      return document.body.dataset.game === 'crashed' && !el.hidden && want.every((w) => el.textContent.includes(w));
    }, texts, { timeout });
  } catch (err) {
    const info = await page.evaluate(() => ({ crash: document.getElementById('crash').textContent, ...document.body.dataset })).catch(() => ({}));
    throw new Error(`no crash banner with ${JSON.stringify(texts)} within ${timeout} ms: ${JSON.stringify(info)}`, { cause: err });
  }
}

test('a crashing and a hanging core: every page is told, the host keeps serving, player 1 restarts the game', async (t) => {
  const dir = makeTempDir('couchplay-roms-');
  const crash = path.join(dir, 'Crash.tst');
  const hang = path.join(dir, 'Hang.tst');
  fs.writeFileSync(crash, 'mode crash\nat 90\n');
  fs.writeFileSync(hang, 'mode hang\nat 60\n');
  const h = await host(t, ['--rom', crash, '--roms', dir, ...coreDirs()]);
  const players = await joinPlayers(h, 2);
  const [p1, p2] = players;

  for (const page of players) await waitCrash(page, ['the game crashed', 'SIGSEGV']);
  t.diagnostic(`crash banner: ${await p2.locator('#crash-text').textContent()}`);
  const status = await fetch(new URL('healthz', h.url), { signal: AbortSignal.timeout(5000) });
  assert.equal(status.status, 200, '/healthz answers after the crash');
  assert.equal((await status.json()).players, 2);
  for (const page of players) assert.equal(await page.evaluate(() => document.body.dataset.state), 'playing');
  assert.ok(await p1.locator('#crash-restart').isVisible(), 'player 1 gets a Restart button');
  assert.equal(await p2.locator('#crash-restart').isVisible(), false, 'player 2 has no Restart button');

  // Restart the same file, now a game that keeps running.
  fs.writeFileSync(crash, 'mode normal\n');
  await p1.locator('#crash-restart').click();
  for (const page of players) {
    await waitGame(page, 'Crash');
    assert.equal(await page.locator('#crash').isVisible(), false, 'the banner is gone');
  }
  await p1.keyboard.down('KeyX');
  await waitQuadrants(p2, TESTCORE, lit(0, WHITE), 'player 1 lighting the restarted game\'s top-left quadrant');
  await p1.keyboard.up('KeyX');
  await waitOneCoreChild(h);

  // A core that stops answering: the watchdog (2 s without a frame) calls it hung.
  await playFromPanel(p1, 'Hang');
  const started = Date.now();
  for (const page of players) await waitCrash(page, ['stopped responding'], 8000);
  const took = Date.now() - started;
  t.diagnostic(`hang banner after ${took} ms: ${await p2.locator('#crash-text').textContent()}`);
  assert.ok(took < 8000, `the hang was reported after ${took} ms`);
  assert.equal((await health(h)).status, 'ok');
  for (const page of players) assert.equal(await page.evaluate(() => document.body.dataset.state), 'playing');

  fs.writeFileSync(hang, 'mode normal\n');
  await p1.locator('#crash-restart').click();
  for (const page of players) await waitGame(page, 'Hang');
  await waitOneCoreChild(h);
  for (const page of players) await page.context().close();
});

// Frames keep arriving at the page (a still game still sends frames).
async function framesDecoded(page) {
  return (await inboundStats(page, 'video'))?.framesDecoded ?? 0;
}

test('broken ROMs in the library: a clear message names the game, the running game goes on', async (t) => {
  const roms = makeTempDir('couchplay-roms-');
  const quad = path.join(roms, 'quad.nes');
  fs.copyFileSync(quadROM(), quad);
  fs.writeFileSync(path.join(roms, 'Garbage.nes'), crypto.randomBytes(24592));
  fs.writeFileSync(path.join(roms, 'Truncated.nes'), fs.readFileSync(quad).subarray(0, 100));
  const h = await host(t, ['--rom', quad, '--roms', roms, ...coreDirs()]);
  const [p1] = await joinPlayers(h, 1);
  await waitGame(p1, 'quad');

  for (const name of ['Garbage', 'Truncated']) {
    await p1.evaluate(() => { document.getElementById('toast').hidden = true; });
    await playFromPanel(p1, name);
    const toast = p1.locator('#toast');
    await toast.waitFor({ state: 'visible', timeout: WAIT_MS });
    const text = await toast.textContent();
    t.diagnostic(`${name}: ${text}`);
    assert.match(text, new RegExp(`\\b${name}\\b`), `the message names the game: ${text}`);
    assert.match(text, /could not load/i, `the message says the core could not load it: ${text}`);
    await p1.keyboard.press('Escape');
    await p1.locator('#games-panel').waitFor({ state: 'hidden', timeout: WAIT_MS });

    // quad.nes still runs: named, running, frames arriving, and it takes input.
    await waitGame(p1, 'quad');
    const before = await framesDecoded(p1);
    await poll(async () => (await framesDecoded(p1)) > before + 10, 'more video frames');
    await p1.keyboard.down('KeyX');
    await waitQuadrants(p1, NES, lit(0, NES_LIT[0]), 'quad.nes still answering player 1');
    await p1.keyboard.up('KeyX');
    await waitQuadrants(p1, NES, dark, 'quad.nes dark again');
    assert.equal((await health(h)).status, 'ok');
  }
  await p1.context().close();
});
