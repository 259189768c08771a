// --access code (DESIGN §4): the QR code's join URL (/#key=…) joins with no
// typing; the bare URL asks for the room code, refuses a wrong one and
// rate-limits the sixth wrong try within a minute; WHEP needs a Bearer; the
// host's kick frees the slot and the kicked page says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startCodeHost, launchBrowser, openURL, waitState, waitSlot, health, poll, closeAll, marks, WAIT_MS,
} from './helpers.mjs';

let browser;
let host;
before(async () => {
  browser = await launchBrowser();
  host = await startCodeHost();
});
after(() => closeAll(browser, host));

const wrongCode = (code) => (code === '0000' ? '1111' : '0000');

// Types a code into the prompt and waits for the host's answer (the prompt's
// message is "Checking…" until then).
async function tryCode(page, code) {
  await page.waitForFunction(() => !document.getElementById('code-input').disabled, null, { timeout: WAIT_MS });
  await page.fill('#code-input', code);
  await page.press('#code-input', 'Enter');
  await page.waitForFunction(() => {
    const text = document.getElementById('code-error').textContent;
    return document.body.dataset.state !== 'connecting' && text !== 'Checking…';
  }, null, { timeout: WAIT_MS });
  return page.evaluate(() => ({ state: document.body.dataset.state, error: document.getElementById('code-error').textContent }));
}

async function errorText(page) {
  return page.evaluate(() => document.getElementById('error-text').textContent);
}

test('the startup lines give the room code and the join URL with the key', () => {
  assert.match(host.code, /^\d{4}$/);
  assert.ok(host.key.length >= 20, `key ${host.key} is too short`);
  assert.equal(host.joinURL, `${host.url}#key=${host.key}`);
});

test('the QR code URL joins as a player with no typing; the bare URL asks for the code, refuses a wrong one, joins with the right one', async () => {
  const p1 = await openURL(browser, host.joinURL);
  assert.equal(await waitSlot(p1), '1');
  await waitState(p1, 'playing');

  const p2 = await openURL(browser, host.url);
  await waitState(p2, 'code');
  assert.equal(await p2.isVisible('#code-input'), true, 'the code prompt is shown');
  assert.equal(await p2.evaluate(() => document.body.dataset.slot), undefined, 'no slot before the code');
  assert.equal((await health(host)).players, 1);

  const wrong = await tryCode(p2, wrongCode(host.code));
  assert.equal(wrong.state, 'code', 'a wrong code keeps the prompt open');
  assert.match(wrong.error, /wrong code/i);
  assert.equal((await health(host)).players, 1);

  await p2.fill('#code-input', host.code);
  await p2.press('#code-input', 'Enter');
  assert.equal(await waitSlot(p2), '2');
  await waitState(p2, 'playing');
  assert.equal(await p2.isVisible('#code-prompt'), false, 'the prompt is gone once in');

  // A reconnect uses the session token: the same slot back, no code asked.
  const welcomes = await marks(p2, 'welcome');
  await p2.evaluate(() => window.couchplay.ws.close(4003, 'test drop'));
  await poll(async () => (await marks(p2, 'welcome')) > welcomes, 'the rejoin after the drop');
  await waitState(p2, 'playing');
  assert.equal(await p2.evaluate(() => document.body.dataset.slot), '2');
  assert.equal(await p2.isVisible('#code-prompt'), false, 'no code asked on the rejoin');

  // WHEP without a bearer is 401, with the key 201.
  const whep = await p1.evaluate(async (key) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    });
    const offer = pc.localDescription.sdp;
    const post = (headers) => fetch('whep', { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...headers }, body: offer });
    const none = await post({});
    const withKey = await post({ Authorization: `Bearer ${key}` });
    const location = withKey.headers.get('Location');
    if (location) await fetch(location, { method: 'DELETE' });
    pc.close();
    return { none: none.status, challenge: none.headers.get('WWW-Authenticate'), withKey: withKey.status, location };
  }, host.key);
  assert.equal(whep.none, 401);
  assert.match(whep.challenge ?? '', /^Bearer/);
  assert.equal(whep.withKey, 201);
  assert.match(whep.location ?? '', /^whep\//);

  // /healthz is open and shows no code.
  const res = await fetch(new URL('healthz', host.url));
  const text = await res.text();
  assert.equal(res.status, 200);
  assert.ok(!text.includes(host.key) && !text.includes(`"${host.code}"`), `/healthz reveals the code: ${text}`);

  // Kick: player 2's slot is freed and its page says so, and stays out.
  host.command('kick 2');
  await waitState(p2, 'error');
  assert.match(await errorText(p2), /You were removed from the game by the host/);
  assert.equal(await p2.isVisible('#retry'), false, 'no Retry after a kick');
  await poll(async () => (await health(host)).players === 1, 'the kicked slot to be freed');
  assert.equal(await p2.evaluate(() => sessionStorage.getItem('couchplay.token')), null, 'the kicked token is dropped');
  assert.equal(await p1.evaluate(() => document.body.dataset.state), 'playing', 'player 1 plays on');

  await p1.context().close();
  await p2.context().close();
  await poll(async () => (await health(host)).players === 0, 'the slots to be freed');
});

test('the sixth wrong code within a minute is rate-limited, and another page on that address waits too', async () => {
  const limited = await startCodeHost(); // its own wrong-try count
  try {
    const page = await openURL(browser, limited.url);
    await waitState(page, 'code');
    for (let i = 1; i <= 5; i++) {
      const r = await tryCode(page, wrongCode(limited.code));
      assert.equal(r.state, 'code', `wrong try ${i}`);
      assert.match(r.error, /wrong code/i, `wrong try ${i}`);
    }
    const sixth = await tryCode(page, wrongCode(limited.code));
    assert.equal(sixth.state, 'code');
    assert.match(sixth.error, /too many wrong codes — wait \d+ s/i);
    assert.equal(await page.evaluate(() => document.getElementById('code-input').disabled), true, 'no typing while limited');

    // Another page on the same address is told to wait at once (the host refuses
    // every try from it, the right code too: signal.TestWrongCodesAreRateLimited).
    const other = await openURL(browser, limited.url);
    await waitState(other, 'code');
    await other.waitForFunction(() => /too many wrong codes — wait \d+ s/i.test(document.getElementById('code-error').textContent),
      null, { timeout: WAIT_MS });
    assert.equal(await other.evaluate(() => document.getElementById('code-input').disabled), true);
    assert.equal((await health(limited)).players, 0);
    await page.context().close();
    await other.context().close();
  } finally {
    await limited.stop();
  }
});
