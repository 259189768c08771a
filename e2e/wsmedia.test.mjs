// WebSocket media (README): a browser without WebRTC, or whose WebRTC cannot
// connect, gets the game over its signalling WebSocket and decodes it with
// WebCodecs. Here in Chromium, with WebRTC taken away by an init script, with
// UDP blocked by Chromium's own policy flag, and asked for with
// ?media=websocket; WebKitGTK (no WebRTC at all) is webkit.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, launchBrowser, openPage, openPageWith, waitState, waitSlot, waitColour, waitGame, poll, health, closeAll,
  startTcpProxy, sample, marks, WAIT_MS } from './helpers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(() => closeAll(browser, null));

// In the page before index.html's script: this browser has no WebRTC.
function noWebRTC() {
  delete window.RTCPeerConnection;
  delete window.webkitRTCPeerConnection;
}

// WebRTC that cannot reach the host, as where UDP is filtered: no candidate
// reaches either side (the host's are stripped from its offer and ignored
// when trickled; the page's own are never sent), so ICE has nothing to try.
function iceBlocked() {
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Original {
    setRemoteDescription(d) { return super.setRemoteDescription({ type: d.type, sdp: d.sdp.replace(/^a=candidate:.*\r\n/gm, '') }); }
    addIceCandidate() { return Promise.resolve(); }
    get localDescription() {
      const d = super.localDescription;
      return d && { type: d.type, sdp: d.sdp.replace(/^a=candidate:.*\r\n/gm, '') };
    }
    set onicecandidate(f) { /* never sent */ }
    get onicecandidate() { return null; }
  };
}

// Neither WebRTC nor WebCodecs' video decoder.
function noWebRTCNoWebCodecs() {
  delete window.RTCPeerConnection;
  delete window.webkitRTCPeerConnection;
  delete window.VideoDecoder;
}

async function media(page) {
  return page.evaluate(() => document.body.dataset.media);
}

// Plays the test card: white while A is held, black after; the tone decodes
// through the worklet (its decoded count grows while A is held).
async function playsTestCard(page) {
  await waitColour(page, 'black');
  const before = await page.evaluate(() => window.couchplay.audio.stats.decoded ?? 0);
  await page.keyboard.down('KeyX');
  await waitColour(page, 'white');
  await page.waitForTimeout(300);
  await page.keyboard.up('KeyX');
  await waitColour(page, 'black');
  const audio = await page.evaluate(() => ({ path: window.couchplay.audio.path, decoded: window.couchplay.audio.stats.decoded ?? 0 }));
  assert.equal(audio.path, 'websocket', 'the sound comes over the WebSocket');
  assert.ok(audio.decoded > before + 10, `Opus packets decoded while A was held: ${audio.decoded - before}`);
}

test('no WebRTC: the page plays over WebSocket media, picture, sound and input, and says so', async () => {
  const host = await startHost();
  try {
    const page = await openPageWith(browser, host, { init: noWebRTC });
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    assert.equal(await media(page), 'websocket');
    assert.equal(await page.evaluate(() => window.couchplay.pc), null, 'no PeerConnection');
    await playsTestCard(page);
    const s = await sample(page);
    assert.equal(`${s.w}x${s.h}`, '256x240', 'the canvas has the game\'s size');
    assert.deepEqual((await health(host)).members, [{ slot: 1, media: 'websocket' }]);
    await page.keyboard.press('F3');
    await poll(async () => /media\s+WebSocket \(this browser has no WebRTC\)/.test(await page.locator('#stats').textContent()),
      'F3 to name the transport and why');
    await page.context().close();
  } finally {
    await host.stop();
  }
});

test('UDP blocked: WebRTC fails once, the page switches to WebSocket media and plays; a WebRTC player plays beside it', async () => {
  const host = await startHost();
  try {
    const rtc = await openPage(browser, host);
    await waitState(rtc, 'playing');
    const page = await openPageWith(browser, host, { init: iceBlocked });
    await waitState(page, 'playing', 3 * WAIT_MS);
    assert.equal(await media(page), 'websocket', `media; console:\n${(page.consoleLog || []).join('\n')}\n${await page.evaluate(() => JSON.stringify([performance.getEntriesByType('mark').map((m) => m.name), window.couchplaySocketMedia, window.couchplay.pc?.connectionState]))}`);
    assert.equal(await waitSlot(page), '2');
    assert.equal(await marks(page, 'offer'), 1, 'one WebRTC try, not three');
    // Player 2's A is red on the test card.
    await waitColour(page, 'black');
    await page.keyboard.down('KeyX');
    await waitColour(page, 'red');
    await waitColour(rtc, 'red');
    await page.keyboard.up('KeyX');
    await waitColour(page, 'black');
    assert.deepEqual((await health(host)).members, [{ slot: 1, media: 'webrtc' }, { slot: 2, media: 'websocket' }]);
    await page.context().close();
    await rtc.context().close();
  } finally {
    await host.stop();
  }
});

test('WebSocket media: the page rejoins its slot after the connection drops, and follows a game switch', async () => {
  const host = await startHost();
  const proxy = await startTcpProxy(host);
  try {
    const page = await openPageWith(browser, { url: proxy.url }, { init: noWebRTC });
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    const welcomes = await marks(page, 'welcome');
    proxy.cut();
    await poll(() => page.evaluate(() => document.body.dataset.state === 'connecting'), 'the page to notice the drop');
    proxy.restore();
    await poll(async () => (await marks(page, 'welcome')) > welcomes, 'the rejoin');
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    await playsTestCard(page);

    // Light Cycles (another size) and back: the decoder follows the keyframes.
    await page.keyboard.press('F2');
    await page.locator('#games-list li[data-id="builtin:game"] button.play').click();
    await waitGame(page, 'Light Cycles');
    // Its arena is not one flat colour, unlike the test card.
    await poll(async () => (await sample(page))?.spread > 100, 'Light Cycles\' picture');
    await page.keyboard.press('F2');
    await page.locator('#games-list li[data-id="builtin:testcard"] button.play').click();
    await waitGame(page, 'Test Card');
    await playsTestCard(page);
    await page.context().close();
  } finally {
    await proxy.close();
    await host.stop();
  }
});

// WebCodecs without a VP8 decoder (as WebKitGTK without GStreamer's vp8dec).
function noWebRTCNoVP8() {
  delete window.RTCPeerConnection;
  const check = VideoDecoder.isConfigSupported.bind(VideoDecoder);
  VideoDecoder.isConfigSupported = async (config) => (config.codec === 'vp8' ? { supported: false, config } : check(config));
}

test('WebCodecs without VP8: the page names the missing decoder and gives its seat back', async () => {
  const host = await startHost();
  try {
    const page = await openPageWith(browser, host, { init: noWebRTCNoVP8 });
    await waitState(page, 'error');
    assert.match(await page.locator('#error').textContent(), /cannot decode VP8 video.*vp8dec/);
    await poll(async () => (await health(host)).players === 0, 'the seat to be free at once');
    await page.context().close();
  } finally {
    await host.stop();
  }
});

test('neither WebRTC nor WebCodecs: one clear sentence naming what is missing, and no seat taken', async () => {
  const host = await startHost();
  try {
    const page = await openPageWith(browser, host, { init: noWebRTCNoWebCodecs });
    await waitState(page, 'error');
    const text = await page.locator('#error').textContent();
    assert.match(text, /no WebRTC \(RTCPeerConnection\) and no WebCodecs video decoder \(VideoDecoder\)/);
    assert.match(text, /Chrome, Edge, Firefox and Safari/);
    assert.equal((await health(host)).players, 0, 'the page joined nothing');
    await page.context().close();
  } finally {
    await host.stop();
  }
});
