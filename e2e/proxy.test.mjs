// The page behind real reverse proxies (nginx and apache2 on loopback, configs
// in e2e/proxy/), served under the sub-path /games/. A proxy that forwards the
// WebSocket upgrade gives `ws` signalling; one that drops the Upgrade/Connection
// headers (nginx's bare proxy_pass, apache2 without mod_proxy_wstunnel) makes
// the page fall back to HTTP long-polling (`poll`) and say why. Either way the
// game plays. A proxy that rewrites Host needs couchplay's --trusted-origins.
// nginx and apache2 must be installed (`make test` installs them): the tests
// fail, never skip, without them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHost, launchBrowser, openPage, waitState, waitSlot, waitColour, health, poll, closeAll,
} from './helpers.mjs';
import { startProxy, requireProxy, freePort } from './proxy/servers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(() => closeAll(browser, null));

// Runs fn({host, proxy}) with a fresh host behind kind/template; both are
// stopped by PID whatever happens. trusted: the host's --trusted-origins value,
// a function of the proxy's port (which is then chosen before the host starts).
async function behindProxy(kind, template, { vars, trusted } = {}, fn) {
  requireProxy(kind);
  let host;
  let proxy;
  try {
    const port = trusted ? await freePort() : undefined;
    host = await startHost({ extraArgs: trusted ? ['--trusted-origins', trusted(port)] : [] });
    proxy = await startProxy(kind, template, { upstream: new URL(host.url).host, port, vars });
    await fn({ host, proxy });
  } catch (err) {
    if (proxy) err.message += `\n--- ${kind} log:\n${proxy.log()}`;
    if (host) err.message += `\n--- host log:\n${host.log}`;
    throw err;
  } finally {
    await proxy?.stop();
    await host?.stop();
  }
}

// Opens the page through the proxy and plays it: slot 1, the expected
// signalling mode, KeyX turns the picture white and back. Closing the page
// frees the slot (leave goes out over either transport).
async function playsThrough({ host, proxy }, signal, check = async () => {}) {
  const page = await openPage(browser, { url: proxy.url });
  try {
    await waitState(page, 'playing');
    assert.equal(await waitSlot(page), '1');
    assert.equal(await page.evaluate(() => document.body.dataset.signal), signal, 'signalling mode');
    await waitColour(page, 'black');
    await page.keyboard.down('KeyX');
    await waitColour(page, 'white');
    await page.keyboard.up('KeyX');
    await waitColour(page, 'black');
    await check(page);
  } catch (err) {
    err.message += `\nconsole:\n${page.consoleLog.join('\n')}`;
    throw err;
  } finally {
    await page.close({ runBeforeUnload: true });
    await page.context().close();
  }
  await poll(async () => { const h = await health(host); return h.players === 0 && h.peers === 0; }, 'the slot to be freed after the page closed');
}

async function pollModeChecks(page) {
  const notice = page.locator('#signal-notice');
  assert.ok(await notice.isVisible(), 'the fallback notice is shown');
  assert.match(await notice.textContent(), /long-polling: a proxy between this page and the host dropped the WebSocket Upgrade headers/);
  await page.keyboard.press('F3');
  await poll(async () => /signalling\s+poll/.test(await page.locator('#stats').textContent()), 'the stats overlay to show the signalling mode');
}

async function noNotice(page) {
  assert.equal(await page.locator('#signal-notice').isVisible(), false, 'no fallback notice over a WebSocket');
}

test('nginx forwarding Upgrade/Connection: WebSocket signalling, plays', () =>
  behindProxy('nginx', 'nginx-good.conf', {}, (ctx) => playsThrough(ctx, 'ws', noNotice)));

test('nginx dropping Upgrade/Connection: plain GET ws is a 426 with the fix; the page falls back to poll and plays', () =>
  behindProxy('nginx', 'nginx-strip.conf', {}, async (ctx) => {
    const res = await fetch(new URL('ws', ctx.proxy.url));
    const text = await res.text();
    assert.equal(res.status, 426, text);
    assert.match(text, /proxy_set_header Upgrade/);
    await playsThrough(ctx, 'poll', pollModeChecks);
    assert.match(ctx.host.log, /Upgrade/, 'the host log names the dropped headers');
  }));

test('apache2 with mod_proxy_wstunnel: WebSocket signalling, plays', () =>
  behindProxy('apache2', 'apache2-good.conf', {}, (ctx) => playsThrough(ctx, 'ws', noNotice)));

test('apache2 with a plain http:// ProxyPass: the page falls back to poll and plays', () =>
  behindProxy('apache2', 'apache2-strip.conf', { vars: { HOST_LINE: 'ProxyPreserveHost On' } },
    (ctx) => playsThrough(ctx, 'poll', pollModeChecks)));

test('nginx rewriting Host, host without --trusted-origins: the page explains the origin refusal', () =>
  behindProxy('nginx', 'nginx-nohost.conf', {}, async ({ proxy }) => {
    const page = await openPage(browser, { url: proxy.url });
    try {
      await waitState(page, 'error');
      const text = await page.locator('#error').textContent();
      assert.match(text, /origin/);
      assert.match(text, /--trusted-origins 127\.0\.0\.1:\d+/);
    } finally {
      await page.context().close();
    }
  }));

test('nginx rewriting Host, host with --trusted-origins 127.0.0.1:PROXYPORT: WebSocket signalling, plays', () =>
  behindProxy('nginx', 'nginx-nohost.conf', { trusted: (port) => `127.0.0.1:${port}` },
    (ctx) => playsThrough(ctx, 'ws', noNotice)));

test('apache2 rewriting Host and dropping Upgrade, host with --trusted-origins 127.0.0.1:*: poll, plays', () =>
  behindProxy('apache2', 'apache2-strip.conf', { vars: { HOST_LINE: '' }, trusted: () => '127.0.0.1:*' },
    (ctx) => playsThrough(ctx, 'poll', pollModeChecks)));

test('poll: the host goes away behind nginx: the page says so after its retries', () =>
  behindProxy('nginx', 'nginx-strip.conf', {}, async ({ host, proxy }) => {
    const page = await openPage(browser, { url: proxy.url });
    try {
      await waitState(page, 'playing');
      assert.equal(await page.evaluate(() => document.body.dataset.signal), 'poll');
      await host.stop('SIGKILL'); // nginx now answers 502 for the host
      await waitState(page, 'error');
      // The recv loop retries the proxy's 502s for ~5 s, then gives up (the
      // video connection may notice first: either way the page blames the host).
      assert.match(await page.locator('#error').textContent(), /Lost the connection to the couchplay host|video connection to the host/);
    } finally {
      await page.context().close();
    }
  }));
