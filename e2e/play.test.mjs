// A page reaches "playing", shows the live picture and plays the sound, and
// the keyboard drives player 1 (builtin:testcard: A held = white + 440 Hz).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHost, launchBrowser, openPage, waitState, waitSlot, waitColour, sample,
  inboundStats, poll, health, closeAll,
} from './helpers.mjs';

let browser;
let host;
before(async () => {
  browser = await launchBrowser();
  host = await startHost();
});
after(() => closeAll(browser, host));

test('testcard: playing, key A turns the picture white with sound, release turns it black', async () => {
  const page = await openPage(browser, host);
  await waitState(page, 'playing');
  assert.equal(await waitSlot(page), '1');
  assert.equal(await page.evaluate(() => document.body.dataset.signal), 'ws');

  // A video frame is presented (requestVideoFrameCallback fires on a live frame).
  const meta = await page.evaluate(() => new Promise((resolve, reject) => {
    const v = document.getElementById('screen');
    const t = setTimeout(() => reject(new Error('no video frame within 10 s')), 10_000);
    v.requestVideoFrameCallback((now, m) => { clearTimeout(t); resolve({ width: m.width, height: m.height, presented: m.presentedFrames }); });
  }));
  assert.ok(meta.width > 0 && meta.height > 0, `frame has a size: ${JSON.stringify(meta)}`);

  await waitColour(page, 'black');
  await page.keyboard.down('KeyX');
  await waitColour(page, 'white');

  // The tone plays while A is held: audio RTP always arrives; it carries energy
  // where the page plays it, and on 127.0.0.1 (a secure context) the page plays
  // the data channel's copy instead (its tone: audio.test.mjs).
  const path = await page.evaluate(() => window.couchplay.audio.path);
  const audio = await poll(async () => {
    const s = await inboundStats(page, 'audio');
    const fast = await page.evaluate(() => window.couchplay.audio.stats.decoded);
    const heard = path === 'rtp' ? s?.totalAudioEnergy > 0 : fast > 0;
    return s && s.packetsReceived > 0 && heard ? s : null;
  }, `audio packets, played on the ${path} path`);
  assert.ok(audio.packetsReceived > 0);

  await page.keyboard.up('KeyX');
  await waitColour(page, 'black');
  await page.context().close();
  // Its leave frees slot 1 for the touch pad test on this host (asynchronously).
  await poll(async () => (await health(host)).players === 0, 'the closed page to free its slot');
});

test('built-in game: the first picture is not one flat colour', async () => {
  const game = await startHost({ rom: null });
  try {
    const page = await openPage(browser, game);
    await waitState(page, 'playing');
    const s = await poll(async () => {
      const x = await sample(page);
      return x && x.spread > 60 ? x : null;
    }, 'a picture with some detail');
    assert.ok(s.spread > 60, `spread ${s.spread}`);
    await page.context().close();
  } finally {
    await game.stop();
  }
});

test('touch pad on a phone: holding the on-screen A turns the picture white', async () => {
  const context = await browser.newContext({
    permissions: ['camera', 'microphone'], hasTouch: true, isMobile: true, viewport: { width: 800, height: 400 },
  });
  try {
    const page = await context.newPage();
    await page.goto(host.url);
    await waitState(page, 'playing');
    const pad = page.locator('#touchpad');
    assert.ok(await pad.isVisible(), 'the touch pad shows on a coarse pointer');
    const box = await page.locator('.tbtn[data-btn="A"]').boundingBox();
    const point = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    // Real touch events (pointerdown/up come from them), held until released.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [point] });
    await waitColour(page, 'white');
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    await waitColour(page, 'black');
  } finally {
    await context.close();
  }
});

test('no touch pad on a desktop', async () => {
  const page = await openPage(browser, host);
  try {
    await waitState(page, 'playing');
    assert.equal(await page.locator('#touchpad').isVisible(), false);
  } finally {
    await page.context().close();
  }
});
