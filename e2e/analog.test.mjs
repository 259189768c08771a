// Analog sticks end to end: a standard-mapping gamepad's sticks on a player's
// page reach a libretro core through the real host and core child, and a
// spectator sees the picture follow them. The browser has no real gamepad here,
// so an init script gives the page one (navigator.getGamepads) whose axes the
// test moves. The C test core's "sticks" mode paints its left half from port
// 0's left stick (red = X, green = Y, 128 = centred), its right half from the
// right stick, and blue while the d-pad's Right is held.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startHost, launchBrowser, openPage, openPageWith, waitState, waitSlot, poll, testDataDir, requireFile,
  makeTempDir, pixelsAt, WAIT_MS,
} from './helpers.mjs';

const TOLERANCE = 40; // per channel: VP8 is lossy
const SCREEN = { w: 160, h: 144, points: [[40, 72], [120, 72]] }; // left half, right half
const CENTRED = [128, 128, 0];

let browser;
before(async () => { browser = await launchBrowser(); });
after(() => browser?.close());

// In the page before app.js: one connected standard-mapping pad, centred.
function fakePad() {
  const pad = {
    id: 'couchplay test pad (STANDARD GAMEPAD)', index: 0, connected: true, mapping: 'standard', timestamp: 0,
    axes: [0, 0, 0, 0], buttons: Array.from({ length: 17 }, () => ({ pressed: false, touched: false, value: 0 })),
    vibrationActuator: null,
  };
  window.__pad = pad;
  Object.defineProperty(Navigator.prototype, 'getGamepads', { configurable: true, value: () => [pad, null, null, null] });
}

const setAxes = (page, axes) => page.evaluate((a) => { window.__pad.axes = a; window.__pad.timestamp++; }, axes);
const near = (got, want) => got.every((v, k) => Math.abs(v - want[k]) <= TOLERANCE);

// Waits until the spectator's picture shows left and right (colours [r, g, b]).
async function waitPicture(page, left, right, what) {
  let last = null;
  try {
    await poll(async () => {
      last = await pixelsAt(page, SCREEN.points);
      return last && last.w === SCREEN.w && last.h === SCREEN.h && near(last.colours[0], left) && near(last.colours[1], right);
    }, what, WAIT_MS, 40);
  } catch (err) {
    throw new Error(`${err.message}; last picture ${JSON.stringify(last)}, want ${JSON.stringify([left, right])}`, { cause: err });
  }
}

test('moving a gamepad stick moves the game, as a spectator sees it', async (t) => {
  const core = requireFile(path.join(testDataDir, 'testcore_libretro.so'));
  const dir = makeTempDir('couchplay-roms-');
  const rom = path.join(dir, 'Sticks.tst');
  fs.writeFileSync(rom, 'mode sticks\nformat xrgb8888\n');
  const h = await startHost({ rom, extraArgs: ['--core', core, '--data', makeTempDir()] });
  t.after(() => h.stop());

  const player = await openPageWith(browser, h, { init: fakePad });
  await waitState(player, 'playing');
  assert.equal(await waitSlot(player), '1');
  const watcher = await openPage(browser, h, '?watch');
  await waitState(watcher, 'playing');
  assert.equal(await waitSlot(watcher), 'watch');
  await waitPicture(watcher, CENTRED, CENTRED, 'both sticks centred');

  // Left stick full right: red 255; the core reads sticks, so the host does not
  // also press its d-pad (blue stays 0).
  await setAxes(player, [1, 0, 0, 0]);
  await waitPicture(watcher, [255, 128, 0], CENTRED, 'the left stick pushed right');
  // Up on the left stick and down on the right one, each in its own half.
  await setAxes(player, [0, -1, 0, 1]);
  await waitPicture(watcher, [128, 0, 0], [128, 255, 0], 'left stick up, right stick down');
  // Past the dead zone the travel is rescaled: 0.56 of the way is half way (red 192).
  await setAxes(player, [0.56, 0, 0, 0]);
  await waitPicture(watcher, [192, 128, 0], CENTRED, 'the left stick half way right');
  // Inside the radial dead zone the page sends centred sticks.
  await setAxes(player, [0.08, 0.08, 0, 0]);
  await poll(async () => (await player.evaluate(() => window.couchplay.sticks)).every((v) => v === 0), 'sticks in the dead zone read as centred');
  await waitPicture(watcher, CENTRED, CENTRED, 'a stick resting in the dead zone');
  // The d-pad is still the d-pad.
  await player.evaluate(() => { window.__pad.buttons[15] = { pressed: true, touched: true, value: 1 }; });
  await waitPicture(watcher, [128, 128, 255], [128, 128, 255], 'd-pad Right held');
  await player.evaluate(() => { window.__pad.buttons[15] = { pressed: false, touched: false, value: 0 }; });
  await waitPicture(watcher, CENTRED, CENTRED, 'everything released');
});
