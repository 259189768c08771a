// The on-screen touch pad fits on phones (issue 13, "the pad must fit"): on
// touch viewports from 320 px wide, in both orientations, every control is
// wholly on screen and none covers the picture where there is room beside it,
// and the on-screen A still drives the game.
//
// Rules checked, per viewport:
// - every control (the four D-pad arrows and the D-pad itself, A, B, X, Y,
//   Start, Select) has its bounding box wholly inside the viewport;
// - the picture rect is the video element's box letterboxed to
//   videoWidth/videoHeight (object-fit: contain);
// - portrait: no control overlaps the picture rect (picture on top, pad below);
// - landscape: with colW the wider of the two pad columns (.pad-left, the
//   D-pad's, and .pad-right, the face buttons'), when
//   viewport width - picture width >= 2 * colW no control overlaps the picture.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, launchBrowser, waitState, waitColour, poll, health, closeAll } from './helpers.mjs';

const PORTRAIT = [[320, 568], [360, 640], [390, 844], [412, 915]];
const LANDSCAPE = [[568, 320], [640, 360], [844, 390]];

const CONTROLS = {
  'D-pad': '#dpad',
  up: '#dpad .arrow.up', down: '#dpad .arrow.down', left: '#dpad .arrow.left', right: '#dpad .arrow.right',
  A: '.tbtn[data-btn="A"]', B: '.tbtn[data-btn="B"]', X: '.tbtn[data-btn="X"]', Y: '.tbtn[data-btn="Y"]',
  Start: '.tbtn[data-btn="Start"]', Select: '.tbtn[data-btn="Select"]',
};

let browser;
let host;
before(async () => {
  browser = await launchBrowser();
  host = await startHost();
});
after(() => closeAll(browser, host));

// Boxes of every control, the picture rect and the pad columns, in CSS px.
async function measure(page, controls) {
  return page.evaluate((sel) => {
    const rect = (r) => ({ x: r.left, y: r.top, w: r.width, h: r.height });
    const v = document.getElementById('screen');
    const e = v.getBoundingClientRect();
    const scale = Math.min(e.width / v.videoWidth, e.height / v.videoHeight);
    const pw = v.videoWidth * scale, ph = v.videoHeight * scale;
    const picture = { x: e.left + (e.width - pw) / 2, y: e.top + (e.height - ph) / 2, w: pw, h: ph };
    const boxes = {};
    for (const [name, s] of Object.entries(sel)) boxes[name] = rect(document.querySelector(s).getBoundingClientRect());
    const col = (s) => document.querySelector(s).getBoundingClientRect().width;
    return {
      vw: innerWidth, vh: innerHeight, picture, boxes,
      colW: Math.max(col('#touchpad .pad-left'), col('#touchpad .pad-right')),
    };
  }, controls);
}

const inside = (b, vw, vh) => b.x >= -0.5 && b.y >= -0.5 && b.x + b.w <= vw + 0.5 && b.y + b.h <= vh + 0.5;
// Overlap of more than half a pixel either way (sub-pixel rounding is not covering).
const overlaps = (a, b) => Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x) > 0.5 &&
  Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y) > 0.5;
const fmt = (b) => `${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.w)}x${Math.round(b.h)}`;

for (const [width, height] of [...PORTRAIT, ...LANDSCAPE]) {
  const portrait = height > width;
  test(`touch pad fits ${width}x${height} (${portrait ? 'portrait' : 'landscape'}) and the on-screen A works`, async (t) => {
    const context = await browser.newContext({
      permissions: ['camera', 'microphone'], hasTouch: true, isMobile: true, viewport: { width, height },
    });
    try {
      const page = await context.newPage();
      await page.goto(host.url);
      await waitState(page, 'playing');
      assert.ok(await page.locator('#touchpad').isVisible(), 'the touch pad shows on a coarse pointer');
      await poll(() => page.evaluate(() => document.getElementById('screen').videoWidth > 0), 'the video size');
      const m = await measure(page, CONTROLS);
      const report = Object.entries(m.boxes).map(([n, b]) => `${n} ${fmt(b)}`).join('; ');
      const where = `viewport ${m.vw}x${m.vh}, picture ${fmt(m.picture)}, column ${Math.round(m.colW)}: ${report}`;

      t.diagnostic(where);
      const off = Object.entries(m.boxes).filter(([, b]) => !inside(b, m.vw, m.vh)).map(([n]) => n);
      assert.deepEqual(off, [], `controls off screen (${where})`);

      const room = m.vw - m.picture.w >= 2 * m.colW;
      if (portrait || room) {
        const over = Object.entries(m.boxes).filter(([, b]) => overlaps(b, m.picture)).map(([n]) => n);
        assert.deepEqual(over, [], `controls over the picture (${where})`);
      }
      if (!portrait) assert.ok(room, `landscape ${width}x${height}: the layout leaves room beside the picture (${where})`);

      // Holding the on-screen A (real touch events) turns the test card white.
      await waitColour(page, 'black');
      const a = m.boxes.A;
      const point = { x: a.x + a.w / 2, y: a.y + a.h / 2 };
      const cdp = await context.newCDPSession(page);
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [point] });
      await waitColour(page, 'white');
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      await waitColour(page, 'black');
      if (process.env.PAD_SHOTS) await page.screenshot({ path: `${process.env.PAD_SHOTS}/pad-${width}x${height}.png` });
    } finally {
      await context.close();
      // The closed page's leave frees slot 1 for the next viewport's page
      // (it arrives asynchronously: under load the next join could beat it).
      await poll(async () => (await health(host)).players === 0, 'the closed page to free its slot');
    }
  });
}
