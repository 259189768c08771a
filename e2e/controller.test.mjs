// Controller mode (issue 13): `?pad` (or the page's Controller mode button)
// turns a phone into a full-screen pad with no video decode. Checked on phone
// viewports with real touch events (CDP Input.dispatchTouchEvent):
// - the pad fills the screen and every control is wholly on screen, none over
//   another, in portrait and landscape; the badge says P1 in player 1's colour;
// - holding A makes a spectator's test card white, releasing it black;
// - two fingers hold two buttons at once, a finger sliding over the D-pad
//   changes direction, L and R send their bits, each press vibrates;
// - the page is sent no video (its peer has no video receiver, no video
//   stats), while the sound arrives; a normal page on the same host does get
//   and decode video, so the check can tell;
// - player 2 in controller mode drives red, its badge is P2 in red;
// - `?pad&watch` and a fifth joiner get no pad, a line saying why, and video;
// - the Controller mode button switches in place and keeps the slot, and
//   "Show game" goes back to the picture;
// - a controller-mode player the host moves to the spectators gets the
//   picture (it rejoins to watch) and stays a spectator.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, startCodeHost, health, launchBrowser, openPage, waitState, waitSlot, waitColour, inboundStats, poll, closeAll } from './helpers.mjs';

const PORTRAIT = { width: 390, height: 844 };
const LANDSCAPE = { width: 844, height: 390 };

// Button bits (libretro joypad ids, as page.js's BTN).
const BTN = { B: 1 << 0, Y: 1 << 1, Select: 1 << 2, Start: 1 << 3, Up: 1 << 4, Down: 1 << 5, Left: 1 << 6, Right: 1 << 7, A: 1 << 8, X: 1 << 9, L: 1 << 10, R: 1 << 11 };
// The players' colours as computed CSS (page.js PLAYER_COLOURS: #1e88e5, #e53935, …).
const P1_BLUE = 'rgb(30, 136, 229)';
const P2_RED = 'rgb(229, 57, 53)';

const CONTROLS = {
  'D-pad': '#dpad', A: '[data-btn="A"]', B: '[data-btn="B"]', X: '[data-btn="X"]', Y: '[data-btn="Y"]',
  L: '[data-btn="L"]', R: '[data-btn="R"]', Start: '[data-btn="Start"]', Select: '[data-btn="Select"]',
  badge: '#pad-badge', 'Show game': '#pad-video',
};

let browser;
before(async () => { browser = await launchBrowser(); });
after(() => closeAll(browser, null));

// In the page before its scripts: logs navigator.vibrate calls and the button
// state of every input message the page sends on the data channel.
function spies() {
  window.__vibrations = [];
  Object.defineProperty(Navigator.prototype, 'vibrate', {
    configurable: true,
    value(pattern) { window.__vibrations.push(pattern); return true; },
  });
  // Full screen is asked for on the first touch: counted, then done as the browser would.
  window.__fullscreenRequests = 0;
  const requestFullscreen = Element.prototype.requestFullscreen;
  Element.prototype.requestFullscreen = function (...args) {
    window.__fullscreenRequests++;
    return requestFullscreen.apply(this, args);
  };
  window.__sent = [];
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (this.label === 'input' && ArrayBuffer.isView(data) && data.byteLength === 14) {
      const b = new Uint8Array(data.buffer, data.byteOffset, 14); // 0x03: type, seq, buttons, previous, sticks
      window.__sent.push(b[2] | (b[3] << 8));
    }
    return send.call(this, data);
  };
}

// A phone (touch, mobile, the given viewport) on host at query, with the spies and a CDP session for touches.
async function openPhone(host, query, viewport = PORTRAIT) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'], hasTouch: true, isMobile: true, viewport });
  await context.addInitScript(spies);
  const page = await context.newPage();
  page.consoleLog = [];
  page.on('console', (m) => page.consoleLog.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.consoleLog.push(`pageerror: ${e.message}`));
  await page.goto(new URL(query, host.url).href);
  const cdp = await context.newCDPSession(page);
  return { context, page, cdp };
}

// The centre of selector's box; dx moves it by that fraction of the width from the centre.
async function centre(page, selector, dx = 0) {
  const b = await page.locator(selector).boundingBox();
  assert.ok(b, `${selector} has a box`);
  return { x: b.x + b.width / 2 + dx * b.width, y: b.y + b.height / 2 };
}

// Touch points with stable ids (one per finger).
const fingers = (...points) => points.map((p, i) => ({ ...p, id: i + 1 }));
const touch = (cdp, type, points = []) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points });

async function waitButtons(page, bits, what) {
  await poll(() => page.evaluate((want) => window.couchplay?.buttons === want, bits), what);
  // And the data channel carried exactly that state.
  assert.ok(await page.evaluate((want) => window.__sent.includes(want), bits), `${what}: an input message with bits ${bits} was sent`);
}

const inside = (b, vw, vh) => b.x >= -0.5 && b.y >= -0.5 && b.x + b.width <= vw + 0.5 && b.y + b.height <= vh + 0.5;
const rectsOverlap = (a, b) => Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x) > 0.5 &&
  Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y) > 0.5;
// Two discs overlap when their centres are closer than their radii together (half a pixel spared).
const discsOverlap = (a, b) => Math.hypot(a.x + a.width / 2 - (b.x + b.width / 2), a.y + a.height / 2 - (b.y + b.height / 2)) <
  (a.width + b.width) / 2 - 0.5;
const overlaps = (a, b) => (a.disc && b.disc ? discsOverlap(a, b) : rectsOverlap(a, b));

for (const viewport of [PORTRAIT, LANDSCAPE, { width: 320, height: 568 }, { width: 568, height: 320 }]) {
  const name = `${viewport.width}x${viewport.height}`;
  test(`controller mode fills a ${name} phone screen, every control on it, badge P1 in blue`, async () => {
    const host = await startHost();
    const phone = await openPhone(host, '?pad', viewport);
    try {
      const { page } = phone;
      await waitState(page, 'playing');
      assert.equal(await waitSlot(page), '1');
      assert.equal(await page.evaluate(() => document.body.dataset.mode), 'pad');
      const m = await page.evaluate((sel) => {
        const box = (el) => {
          const r = el.getBoundingClientRect();
          // The face buttons and the D-pad are discs: their corners may cross, the discs must not.
          const disc = el.classList.contains('round') || el.id === 'dpad';
          return { x: r.left, y: r.top, width: r.width, height: r.height, disc };
        };
        const boxes = {};
        for (const [n, s] of Object.entries(sel)) {
          const el = document.querySelector(s);
          boxes[n] = el && el.checkVisibility() ? box(el) : null;
        }
        return { vw: innerWidth, vh: innerHeight, pad: box(document.getElementById('touchpad')), boxes };
      }, CONTROLS);
      const where = JSON.stringify(m);
      assert.ok(Math.abs(m.pad.x) < 1 && Math.abs(m.pad.y) < 1 && Math.abs(m.pad.width - m.vw) < 1 && Math.abs(m.pad.height - m.vh) < 1,
        `the pad fills the ${m.vw}x${m.vh} viewport: ${JSON.stringify(m.pad)}`);
      const missing = Object.entries(m.boxes).filter(([, b]) => !b).map(([n]) => n);
      assert.deepEqual(missing, [], `controls not shown (${where})`);
      const off = Object.entries(m.boxes).filter(([, b]) => !inside(b, m.vw, m.vh)).map(([n]) => n);
      assert.deepEqual(off, [], `controls off screen (${where})`);
      const names = Object.keys(m.boxes);
      const clashes = [];
      for (let i = 0; i < names.length; i++) {
        for (let j = i + 1; j < names.length; j++) {
          if (overlaps(m.boxes[names[i]], m.boxes[names[j]])) clashes.push(`${names[i]}/${names[j]}`);
        }
      }
      assert.deepEqual(clashes, [], `controls on top of each other (${where})`);
      const badge = await page.evaluate(() => {
        const el = document.getElementById('pad-badge');
        return { text: el.textContent, colour: getComputedStyle(el).backgroundColor };
      });
      assert.deepEqual(badge, { text: 'P1', colour: P1_BLUE });
      if (process.env.PAD_SHOTS) await page.screenshot({ path: `${process.env.PAD_SHOTS}/controller-${name}.png` });
    } finally {
      await phone.context.close();
      await host.stop();
    }
  });
}

test('controller mode drives the game: A held = white, two fingers, D-pad slide, L/R, vibration, no video', async () => {
  const host = await startHost();
  const phone = await openPhone(host, '?pad');
  let watcher;
  try {
    const { page, cdp } = phone;
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    watcher = await openPage(browser, host, '?watch');
    await waitState(watcher, 'playing');
    await waitColour(watcher, 'black');
    assert.equal(await page.evaluate(() => window.__vibrations.length), 0, 'no vibration before any press');
    assert.equal(await page.evaluate(() => window.__fullscreenRequests), 0, 'no full screen before a touch');

    // Hold A: white while held, black after the release.
    const a = await centre(page, '[data-btn="A"]');
    await touch(cdp, 'touchStart', fingers(a));
    await waitColour(watcher, 'white');
    await waitButtons(page, BTN.A, 'A held');
    assert.ok(await page.evaluate(() => window.__vibrations.length) >= 1, 'the press vibrated');
    await touch(cdp, 'touchEnd');
    await waitColour(watcher, 'black');
    await waitButtons(page, 0, 'A released');
    assert.equal(await page.evaluate(() => window.__fullscreenRequests), 1, 'the first touch asked for full screen');

    // Two fingers: A and B held together, then the second finger lifts.
    const b = await centre(page, '[data-btn="B"]');
    await touch(cdp, 'touchStart', fingers(a));
    await touch(cdp, 'touchStart', fingers(a, b));
    await waitButtons(page, BTN.A | BTN.B, 'A and B held by two fingers');
    await waitColour(watcher, 'white');
    await touch(cdp, 'touchEnd');
    await waitButtons(page, 0, 'both released');
    await waitColour(watcher, 'black');

    // A finger sliding across the D-pad: left, then right, without lifting; A held by another finger meanwhile.
    const left = await centre(page, '#dpad', -0.35);
    const right = await centre(page, '#dpad', 0.35);
    await touch(cdp, 'touchStart', fingers(left));
    await waitButtons(page, BTN.Left, 'D-pad left');
    await touch(cdp, 'touchMove', fingers(right));
    await waitButtons(page, BTN.Right, 'the finger slid to the right');
    await touch(cdp, 'touchStart', fingers(right, a));
    await waitButtons(page, BTN.Right | BTN.A, 'right and A');
    await touch(cdp, 'touchEnd');
    await waitButtons(page, 0, 'all released');

    // L and R, alone and together.
    const l = await centre(page, '[data-btn="L"]');
    const r = await centre(page, '[data-btn="R"]');
    await touch(cdp, 'touchStart', fingers(l));
    await waitButtons(page, BTN.L, 'L');
    await touch(cdp, 'touchEnd');
    await touch(cdp, 'touchStart', fingers(r));
    await waitButtons(page, BTN.R, 'R');
    await touch(cdp, 'touchStart', fingers(r, l));
    await waitButtons(page, BTN.L | BTN.R, 'L and R');
    await touch(cdp, 'touchEnd');
    await waitButtons(page, 0, 'L and R released');
    // Every press buzzed: A, A, B, left, right, A, L, R, L = 9 presses; full screen was asked for once only.
    assert.ok(await page.evaluate(() => window.__vibrations.length) >= 9, 'each press vibrated');
    assert.equal(await page.evaluate(() => window.__fullscreenRequests), 1, 'full screen is asked for once');

    // No video: the sound arrives, the picture is never sent. The watcher (a
    // normal page) decodes video from the same host, so these checks can tell.
    await poll(async () => (await inboundStats(page, 'audio'))?.packetsReceived > 0, 'audio packets in controller mode');
    const media = async (p) => p.evaluate(async () => {
      const pc = window.couchplay.pc;
      const stats = [...(await pc.getStats()).values()].filter((s) => s.type === 'inbound-rtp' && s.kind === 'video');
      return {
        receivers: pc.getReceivers().map((x) => x.track.kind).sort(),
        videoLines: (pc.remoteDescription.sdp.match(/^m=video /gm) || []).length,
        framesDecoded: stats.reduce((n, s) => n + (s.framesDecoded || 0), 0),
      };
    });
    await poll(async () => (await media(watcher)).framesDecoded > 0, 'the watcher decodes video');
    assert.deepEqual(await media(page), { receivers: ['audio'], videoLines: 0, framesDecoded: 0 }, 'controller mode gets no video');
  } finally {
    await watcher?.context().close();
    await phone.context.close();
    await host.stop();
  }
});

test('player 2 in controller mode drives red; its badge is P2 in red', async () => {
  const host = await startHost();
  const one = await openPhone(host, '?pad');
  let two;
  let watcher;
  try {
    await waitState(one.page, 'playing');
    assert.equal(await waitSlot(one.page), '1');
    two = await openPhone(host, '?pad', LANDSCAPE);
    await waitState(two.page, 'playing');
    assert.equal(await waitSlot(two.page), '2');
    assert.deepEqual(await two.page.evaluate(() => {
      const el = document.getElementById('pad-badge');
      return { text: el.textContent, colour: getComputedStyle(el).backgroundColor };
    }), { text: 'P2', colour: P2_RED });
    watcher = await openPage(browser, host, '?watch');
    await waitColour(watcher, 'black');
    await touch(two.cdp, 'touchStart', fingers(await centre(two.page, '[data-btn="A"]')));
    await waitColour(watcher, 'red');
    await touch(two.cdp, 'touchEnd');
    await waitColour(watcher, 'black');
  } finally {
    await watcher?.context().close();
    await two?.context.close();
    await one.context.close();
    await host.stop();
  }
});

// A spectator that asked for the pad: no pad, a line saying why, and the picture.
async function assertWatchingWithoutPad(page) {
  await waitState(page, 'playing');
  assert.equal(await waitSlot(page), 'watch');
  const seen = await page.evaluate(() => ({
    mode: document.body.dataset.mode,
    pad: document.getElementById('touchpad').checkVisibility(),
    why: document.getElementById('pad-watch').checkVisibility() ? document.getElementById('pad-watch').textContent : '',
  }));
  assert.equal(seen.mode, 'video');
  assert.equal(seen.pad, false, 'a spectator has no pad');
  assert.match(seen.why, /watch/i);
  assert.match(seen.why, /no controller/i);
  await waitColour(page, 'black'); // it gets the picture
}

test('?pad&watch and a fifth joiner in controller mode get no pad, a reason, and the picture', async () => {
  const host = await startHost();
  const phones = [];
  try {
    const watching = await openPhone(host, '?pad&watch');
    phones.push(watching);
    await assertWatchingWithoutPad(watching.page);
    assert.match(await watching.page.locator('#pad-watch').textContent(), /joined to watch/);

    for (let slot = 1; slot <= 4; slot++) {
      const p = await openPhone(host, '?pad');
      phones.push(p);
      await waitState(p.page, 'playing');
      assert.equal(await waitSlot(p.page), String(slot));
    }
    const fifth = await openPhone(host, '?pad');
    phones.push(fifth);
    await assertWatchingWithoutPad(fifth.page);
    assert.match(await fifth.page.locator('#pad-watch').textContent(), /no player slot/);
    assert.match(await fifth.page.locator('#notice').textContent(), /slots are taken/, "the host's notice says why");
  } finally {
    for (const p of phones.reverse()) await p.context.close();
    await host.stop();
  }
});

test('the Controller mode button switches in place and keeps the slot; Show game goes back', async () => {
  const host = await startHost();
  const first = await openPhone(host, '');
  let phone;
  let watcher;
  try {
    await waitState(first.page, 'playing');
    assert.equal(await waitSlot(first.page), '1');
    phone = await openPhone(host, '');
    const { page, cdp } = phone;
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '2');
    // Slot 1 frees up: a fresh join would now take it, the switch must not.
    await first.context.close();
    await poll(async () => (await (await fetch(new URL('healthz', host.url))).json()).players === 1, 'slot 1 freed');

    assert.equal(await page.evaluate(() => document.body.dataset.mode), 'video');
    await page.locator('#controller-button').click();
    await page.waitForFunction(() => document.body.dataset.mode === 'pad');
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '2', 'the switch keeps the slot');
    assert.match(page.url(), /\?pad$/);
    await poll(() => page.evaluate(() => {
      const pc = window.couchplay.pc;
      return pc?.remoteDescription && pc.connectionState === 'connected' &&
        pc.getReceivers().every((r) => r.track.kind !== 'video');
    }), 'a stream without video after the switch');

    watcher = await openPage(browser, host, '?watch');
    await waitColour(watcher, 'black');
    await touch(cdp, 'touchStart', fingers(await centre(page, '[data-btn="A"]')));
    await waitColour(watcher, 'red');
    await touch(cdp, 'touchEnd');
    await waitColour(watcher, 'black');

    await page.locator('#pad-video').click();
    await page.waitForFunction(() => document.body.dataset.mode === 'video');
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '2');
    assert.doesNotMatch(page.url(), /pad/);
    await waitColour(page, 'black'); // the picture is back
  } finally {
    await watcher?.context().close();
    await phone?.context.close();
    await first.context.close().catch(() => {});
    await host.stop();
  }
});

test('a controller-mode player the host moves to the spectators gets the picture and stays watching', async () => {
  const host = await startCodeHost();
  const phone = await openPhone(host, '');
  const { page } = phone;
  try {
    // The QR code's URL (key in the fragment), in controller mode.
    const join = new URL(host.joinURL);
    join.search = '?pad';
    await page.goto(join.href);
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    assert.equal(await page.evaluate(() => document.body.dataset.mode), 'pad');

    host.command('spectate 1');
    await page.waitForFunction(() => document.body.dataset.slot === 'watch' && document.body.dataset.state === 'playing',
      null, { timeout: 15_000 });
    await waitColour(page, 'black'); // the picture: a stream with video this time
    const seen = await page.evaluate(() => ({
      search: location.search, mode: document.body.dataset.mode,
      pad: document.getElementById('touchpad').checkVisibility(),
      notice: document.getElementById('notice').textContent,
    }));
    assert.equal(seen.search, '?watch', 'a reload stays a spectator');
    assert.equal(seen.mode, 'video');
    assert.equal(seen.pad, false, 'a spectator has no pad');
    assert.match(seen.notice, /moved you to the spectators/);
    const h = await health(host);
    assert.equal(h.players, 0, 'the rejoin did not take a player slot back');
    assert.equal(h.spectators, 1);
  } finally {
    await phone.context.close();
    await host.stop();
  }
});
