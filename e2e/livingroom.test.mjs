// The living room, not loopback: the page's media goes through a lossy relay
// (internal/lossyturn: a TURN server on 127.0.0.1 with netem links, the page
// forced onto it with iceTransportPolicy "relay"). Behaviour only: every press
// arrives, the video rate falls under a cap, the sound buffer grows after
// underruns and shrinks again. Figures live in make bench.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, launchBrowser, waitState, waitSlot, poll, health, closeAll, startRelay, openRelayedPage, WAIT_MS,
  startNoiseHost } from './helpers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(() => closeAll(browser, null));

// In the page: counts presented frames that are white (the test card while
// player 1 holds A), so a test can tell whether a press reached the host.
function watchWhite() {
  const v = document.getElementById('screen');
  const c = document.createElement('canvas');
  c.width = 4; c.height = 4;
  const g = c.getContext('2d', { willReadFrequently: true });
  window.__white = { frames: 0, white: 0, isWhite: false };
  const tick = () => {
    g.drawImage(v, 0, 0, 4, 4);
    const d = g.getImageData(1, 1, 1, 1).data;
    const w = window.__white;
    w.frames++;
    w.isWhite = d[0] > 180 && d[1] > 180 && d[2] > 180;
    if (w.isWhite) w.white++;
    v.requestVideoFrameCallback(tick);
  };
  v.requestVideoFrameCallback(tick);
}

test('every short press reaches the host through an uplink that loses 15 % of its packets', async () => {
  const host = await startHost();
  // Only the uplink (input) loses: a press missing from the picture is then a press the host never saw.
  const relay = await startRelay({ up: { loss: 0.15, delayMs: 5, jitterMs: 5 }, down: { delayMs: 5 } });
  try {
    const page = await openRelayedPage(browser, host, relay);
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    await page.evaluate(watchWhite);
    await page.waitForFunction(() => window.__white.frames > 10 && !window.__white.isWhite, null, { timeout: WAIT_MS });
    const PRESSES = 20;
    const missed = [];
    for (let i = 0; i < PRESSES; i++) {
      const before = await page.evaluate(() => window.__white.white);
      // 40 ms: shorter than the 100 ms periodic resend, so only the copies of
      // the change can save a press whose first message is lost.
      await page.keyboard.down('KeyX');
      await page.waitForTimeout(40);
      await page.keyboard.up('KeyX');
      const seen = await page.waitForFunction((n) => window.__white.white > n, before, { timeout: 2000 })
        .then(() => true, () => false);
      if (!seen) missed.push(i);
      await page.waitForFunction(() => !window.__white.isWhite, null, { timeout: WAIT_MS });
    }
    const stats = await relay.stats();
    // The link really lost packets (a relay that loses nothing tests nothing).
    assert.ok(stats.up.lost > 10, `the relay lost only ${stats.up.lost} uplink packets: ${JSON.stringify(stats)}`);
    assert.deepEqual(missed, [], `presses the host never saw (of ${PRESSES}); relay ${JSON.stringify(stats)}; page sent ${JSON.stringify(await page.evaluate(() => window.couchplay.inputStats))}`);
    await page.context().close();
  } finally {
    await relay.stop();
    await host.stop();
  }
});

test('the video rate falls under a rate cap on the link, the picture goes on, and the rate comes back when the cap lifts', async () => {
  const host = await startNoiseHost();
  const relay = await startRelay({});
  const CAP = 600;
  try {
    const page = await openRelayedPage(browser, host, relay);
    await waitState(page, 'playing');
    await page.evaluate(watchWhite);
    const start = (await health(host)).videoKbps;
    assert.ok(start > CAP, `the encoder starts at ${start} kbit/s, want above the ${CAP} kbit/s cap to come`);
    await relay.set({ up: { rateKbps: CAP }, down: { rateKbps: CAP } });
    await poll(async () => (await health(host)).videoKbps < CAP, `the host's video rate to fall under the ${CAP} kbit/s cap`, 4 * WAIT_MS);
    const stats = await relay.stats();
    assert.ok(stats.down.overflow > 0, `the cap dropped nothing: the stream did not fill the link ${JSON.stringify(stats)}`);
    // Still a moving stream under the cap: frames keep being presented.
    const frames = await page.evaluate(() => window.__white.frames);
    await page.waitForFunction((n) => window.__white.frames > n + 30, frames, { timeout: WAIT_MS });
    // F3 shows what the link does.
    await page.keyboard.press('F3');
    await poll(async () => /video\s+\d+ kbps, loss [\d.]+ %, jitter [\d.]+ ms/.test(await page.locator('#stats').textContent()), 'the stats overlay to show video rate, loss and jitter');

    await relay.set({ up: {}, down: {} });
    await poll(async () => (await health(host)).videoKbps > CAP * 1.5, 'the video rate to climb back well over the old cap', 6 * WAIT_MS);
    await page.context().close();
  } finally {
    await relay.stop();
    await host.stop();
  }
});

test('the sound buffer grows on a jittery link and shrinks again once the link is calm', async () => {
  const host = await startHost();
  // Delay and jitter on the sound's way (host -> browser): 20 ± 20 ms, in order.
  const relay = await startRelay({ down: { delayMs: 20, jitterMs: 20 } });
  try {
    const page = await openRelayedPage(browser, host, relay);
    await waitState(page, 'playing');
    assert.equal(await page.evaluate(() => window.couchplay.audio.path), 'datachannel');
    const buffer = () => page.evaluate(() => window.couchplay.audio.stats);
    // 20 ± 20 ms of jitter needs about 40 ms; the calm link about 10-15 (the
    // host sends each emulated frame's sound as it is made). Waiting
    // for 35 (not just the first growth) leaves room for the shrink below on
    // a busy machine, where the calm target stays higher.
    await poll(async () => (await buffer()).targetMs >= 35, 'the sound buffer target to grow over the jitter', 4 * WAIT_MS);
    const grown = await buffer();
    await relay.set({ down: {} });
    await poll(async () => (await buffer()).targetMs <= grown.targetMs - 10, `the target (${grown.targetMs} ms) to shrink once the link is calm`, 8 * WAIT_MS, 500);
    const calm = await buffer();
    // Still the fast path, still decoding: the buffer adapted, it did not give up.
    assert.equal(await page.evaluate(() => window.couchplay.audio.path), 'datachannel');
    assert.ok(calm.decoded > grown.decoded, `no sound decoded while it shrank: ${JSON.stringify({ grown, calm })}`);
    await page.context().close();
  } finally {
    await relay.stop();
    await host.stop();
  }
});

test('lost sound packets are played from the copies the next messages carry, and the buffer holds a packet more while losses go on', async () => {
  const host = await startHost();
  const relay = await startRelay({ down: { loss: 0.08 } });
  try {
    const page = await openRelayedPage(browser, host, relay);
    await waitState(page, 'playing');
    assert.equal(await page.evaluate(() => window.couchplay.audio.path), 'datachannel');
    const buffer = () => page.evaluate(() => window.couchplay.audio.stats);
    // The host adds copies once the page's receiver report says it lost
    // sound (Chrome reports every ~5 s); from then on the copies bring back
    // what is lost, in time to be played.
    await poll(async () => (await buffer()).recovered > 0, 'the first packet decoded from a copy', 4 * WAIT_MS, 500);
    const from = await buffer();
    // A calm start would hold about 5-15 ms; a packet more is 15-17.5 ms on top.
    await poll(async () => { const b = await buffer(); return b.lost - from.lost >= 30 && b.targetMs >= 20; },
      'thirty more packets lost and the buffer grown for their copies', 4 * WAIT_MS, 500);
    const to = await buffer();
    const lost = to.lost - from.lost;
    const recovered = to.recovered - from.recovered;
    // Three in a row are lost (what two copies cannot cover) about once in 2000 packets at 8 %.
    assert.ok(recovered >= lost * 0.9, `lost ${lost}, decoded from copies ${recovered}: ${JSON.stringify({ from, to })}`);
    // The copies come in time: what concealment stood in for is far below what was lost.
    const lostMs = lost * 1000 / 60;
    const concealed = to.concealedMs - from.concealedMs;
    assert.ok(concealed < lostMs / 2, `concealed ${concealed} ms of ${lostMs.toFixed(0)} ms lost: ${JSON.stringify({ from, to })}`);
    const stats = await relay.stats();
    assert.ok(stats.down.lost > 30, `the relay lost only ${stats.down.lost} packets: ${JSON.stringify(stats)}`);
    await page.context().close();
  } finally {
    await relay.stop();
    await host.stop();
  }
});
