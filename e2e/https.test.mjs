// --https (DESIGN §4): the host makes a self-signed certificate in --data and
// keeps it; a browser that trusts exactly that certificate plays over HTTPS
// in a secure context (the Gamepad API is there), and http:// on the same
// port is sent to https://.
//
// The page is opened as https://couchplay.local:PORT/ (mapped to 127.0.0.1,
// a name in the certificate) rather than 127.0.0.1: a loopback address is a
// secure context even over plain HTTP, so isSecureContext would prove nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  startHost, launchBrowser, openURL, waitState, waitSlot, waitColour, health, closeAll,
} from './helpers.mjs';

const NAME = 'couchplay.local';

// Chromium's --ignore-certificate-errors-spki-list takes base64 SHA-256 of the SPKI.
function spkiHash(pem) {
  const spki = new crypto.X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

function pageURL(host) {
  const u = new URL(host.url);
  u.hostname = NAME;
  return u.href;
}

let browser;
let host;
let dataDir;
before(async () => {
  host = await startHost({ https: true });
  dataDir = host.dataDir;
  browser = await launchBrowser([
    `--ignore-certificate-errors-spki-list=${spkiHash(host.ca)}`,
    `--host-resolver-rules=MAP ${NAME} 127.0.0.1`,
  ]);
});
after(() => closeAll(browser, host));

test('the certificate is made in --data and its fingerprint printed', async () => {
  const cert = new crypto.X509Certificate(host.ca);
  assert.equal(host.fingerprint, cert.fingerprint256, 'printed fingerprint = SHA-256 of cert.pem');
  assert.match(host.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
  for (const san of [`DNS:${NAME}`, 'DNS:localhost', 'IP Address:127.0.0.1']) {
    assert.ok(cert.subjectAltName.includes(san), `SANs ${cert.subjectAltName} lack ${san}`);
  }
  const key = fs.statSync(path.join(dataDir, 'https', 'key.pem'));
  assert.equal(key.mode & 0o777, 0o600, 'key.pem is private');
  assert.equal((await health(host)).status, 'ok');
});

test('http:// on the HTTPS port redirects to the same URL over https', async () => {
  const plain = new URL('healthz?probe=1', host.url);
  plain.protocol = 'http:';
  const res = await fetch(plain, { redirect: 'manual', signal: AbortSignal.timeout(5000) });
  const body = await res.text();
  assert.equal(res.status, 307, body);
  assert.equal(res.headers.get('location'), new URL('healthz?probe=1', host.url).href);
  assert.match(body, /this host serves HTTPS/);
});

test('over https the page plays in a secure context with the Gamepad API', async () => {
  const page = await openURL(browser, pageURL(host));
  await waitState(page, 'playing');
  const env = await page.evaluate(() => ({
    protocol: location.protocol, secure: window.isSecureContext,
    gamepads: typeof navigator.getGamepads, signal: document.body.dataset.signal,
  }));
  assert.deepEqual(env, { protocol: 'https:', secure: true, gamepads: 'function', signal: 'ws' });
  assert.equal(await waitSlot(page), '1');
  await waitColour(page, 'black');
  await page.keyboard.down('KeyX');
  await waitColour(page, 'white');
  await page.keyboard.up('KeyX');
  await waitColour(page, 'black');

  // Typed as http://, the address still ends up playing over https.
  const http = new URL(pageURL(host));
  http.protocol = 'http:';
  await page.goto(http.href);
  assert.equal(new URL(page.url()).protocol, 'https:', `landed on ${page.url()}`);
  await waitState(page, 'playing');
  await page.context().close();
});

test('a second start with the same --data keeps the certificate; another --data gets another one', async () => {
  const before = host.fingerprint;
  await host.stop();
  host = await startHost({ https: true, dataDir });
  assert.equal(host.fingerprint, before, 'same fingerprint after a restart');
  assert.equal(new crypto.X509Certificate(host.ca).fingerprint256, before);
  // The browser trusts only the first certificate's key: it still plays here…
  const page = await openURL(browser, pageURL(host));
  await waitState(page, 'playing');
  await waitColour(page, 'black');
  await page.context().close();

  // …and refuses a host with a certificate of its own.
  const other = await startHost({ https: true });
  try {
    assert.notEqual(other.fingerprint, before);
    const context = await browser.newContext();
    const err = await context.newPage().then((p) => p.goto(pageURL(other))).then(() => null, (e) => e);
    await context.close();
    assert.ok(err && /ERR_CERT/.test(err.message), `the browser accepted another certificate: ${err?.message}`);
  } finally {
    await other.stop();
  }
});
