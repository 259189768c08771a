// The page behind real reverse proxies (nginx and apache2 on loopback, configs
// in e2e/proxy/), served under the sub-path /games/. A proxy that forwards the
// WebSocket upgrade gives `ws` signalling; one that drops the Upgrade/Connection
// headers (nginx's bare proxy_pass, apache2 without mod_proxy_wstunnel) makes
// the page fall back to HTTP long-polling (`poll`) and say why. Either way the
// game plays — also behind the default configs that rewrite Host (nginx's bare
// proxy_pass, apache's ProxyPass without ProxyPreserveHost), with no
// --trusted-origins: couchplay judges the browser's Sec-Fetch-Site first
// (DESIGN §2). A page served from another origin is still refused.
// nginx and apache2 must be installed (`make test` installs them): the tests
// fail, never skip, without them.
import { test, before, after } from 'node:test';
import http from 'node:http';
import assert from 'node:assert/strict';
import {
  startHost, launchBrowser, openPage, waitState, waitSlot, waitColour, health, poll, closeAll,
} from './helpers.mjs';
import { startProxy, requireProxy, freePort } from './proxy/servers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(() => closeAll(browser, null));

// Runs fn({host, proxy}) with a fresh host (no --trusted-origins) behind
// kind/template; both are stopped by PID whatever happens.
async function behindProxy(kind, template, { vars } = {}, fn) {
  requireProxy(kind);
  let host;
  let proxy;
  try {
    host = await startHost();
    proxy = await startProxy(kind, template, { upstream: new URL(host.url).host, vars });
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

// Host kept (proxy_set_header Host $http_host / ProxyPreserveHost On).
const KEEP_HOST_NGINX = { HOST_LINE: 'proxy_set_header Host $http_host;' };
const KEEP_HOST_APACHE = { HOST_LINE: 'ProxyPreserveHost On' };
// The servers' defaults: Host becomes the upstream's address.
const REWRITE_HOST = { HOST_LINE: '' };

test('nginx forwarding Upgrade/Connection: WebSocket signalling, plays', () =>
  behindProxy('nginx', 'nginx-good.conf', {}, (ctx) => playsThrough(ctx, 'ws', noNotice)));

test('nginx dropping Upgrade/Connection: plain GET ws is a 426 with the fix; the page falls back to poll and plays', () =>
  behindProxy('nginx', 'nginx-strip.conf', { vars: KEEP_HOST_NGINX }, async (ctx) => {
    const res = await fetch(new URL('ws', ctx.proxy.url));
    const text = await res.text();
    assert.equal(res.status, 426, text);
    assert.match(text, /proxy_set_header Upgrade/);
    await playsThrough(ctx, 'poll', pollModeChecks);
    assert.match(ctx.host.log, /Upgrade/, 'the host log names the dropped headers');
  }));

test('apache2 with mod_proxy_wstunnel: WebSocket signalling, plays', () =>
  behindProxy('apache2', 'apache2-good.conf', { vars: KEEP_HOST_APACHE }, (ctx) => playsThrough(ctx, 'ws', noNotice)));

test('apache2 with a plain http:// ProxyPass: the page falls back to poll and plays', () =>
  behindProxy('apache2', 'apache2-strip.conf', { vars: KEEP_HOST_APACHE },
    (ctx) => playsThrough(ctx, 'poll', pollModeChecks)));

// The default configs, which rewrite Host: no flag needed.
// Chromium sends no Sec-Fetch-Site on a WebSocket handshake and nginx's
// default adds no X-Forwarded-Host, so the handshake's Origin matches nothing
// the host sees; the page key the host wrote into index.html shows it is the
// host's own page (a page on another site cannot read it; tested below).
test('nginx rewriting Host, forwarding Upgrade, host without --trusted-origins: WebSocket signalling, plays', () =>
  behindProxy('nginx', 'nginx-nohost.conf', {}, async (ctx) => {
    await playsThrough(ctx, 'ws', noNotice);
    assert.doesNotMatch(ctx.host.log, /refused a cross-origin signalling request/, 'nothing was refused');
  }));

test('nginx rewriting Host and dropping Upgrade (bare proxy_pass), no --trusted-origins: poll, plays', () =>
  behindProxy('nginx', 'nginx-strip.conf', { vars: REWRITE_HOST }, (ctx) => playsThrough(ctx, 'poll', pollModeChecks)));

test('apache2 rewriting Host with mod_proxy_wstunnel, no --trusted-origins: WebSocket signalling, plays', () =>
  behindProxy('apache2', 'apache2-good.conf', { vars: REWRITE_HOST }, (ctx) => playsThrough(ctx, 'ws', noNotice)));

test('apache2 rewriting Host and dropping Upgrade, no --trusted-origins: poll, plays', () =>
  behindProxy('apache2', 'apache2-strip.conf', { vars: REWRITE_HOST }, (ctx) => playsThrough(ctx, 'poll', pollModeChecks)));

// A page on another origin (another loopback port: the browser says
// Sec-Fetch-Site: same-site) that tries to use the host through the proxy.
function foreignPage(target) {
  const ws = new URL('ws', target);
  ws.protocol = 'ws:';
  return `<!doctype html><meta charset="utf-8"><title>another site</title><p id="why">trying…</p>
<script>
(async () => {
  const out = {};
  try {
    const res = await fetch(${JSON.stringify(new URL('poll/open', target).href)}, { method: 'POST', cache: 'no-store' });
    out.status = res.status;
    out.text = await res.text();
  } catch (err) { out.error = String(err); }
  document.getElementById('why').textContent = out.status
    ? 'The couchplay host refused this page: HTTP ' + out.status + ': ' + out.text
    : 'The couchplay host could not be used: ' + out.error;
  const ws = new WebSocket(${JSON.stringify(ws.href)});
  out.ws = await new Promise((resolve) => {
    ws.onopen = () => { resolve('open'); ws.close(); };
    ws.onclose = (ev) => resolve('closed ' + ev.code);
  });
  window.result = out;
})();
</script>`;
}

async function startForeignSite(target) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(foreignPage(target));
  });
  const port = await freePort();
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }) };
}

for (const [kind, template, vars] of [['nginx', 'nginx-nohost.conf', {}], ['apache2', 'apache2-good.conf', REWRITE_HOST]]) {
  test(`${kind} rewriting Host: a page served from another origin is refused (403) and shows why`, () =>
    behindProxy(kind, template, { vars }, async ({ host, proxy }) => {
      const site = await startForeignSite(proxy.url);
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(site.url);
        await page.waitForFunction(() => window.result, null, { timeout: 15_000 });
        const result = await page.evaluate(() => window.result);
        assert.equal(result.status, 403, JSON.stringify(result));
        assert.match(result.text, /cross-origin request refused/);
        assert.match(result.text, /Sec-Fetch-Site same-site/);
        assert.notEqual(result.ws, 'open', 'the WebSocket handshake from another origin is refused');
        assert.match(await page.locator('#why').textContent(), /The couchplay host refused this page: HTTP 403: couchplay: cross-origin request refused/);
        assert.match(host.log, /refused a cross-origin signalling request/);
        const h = await health(host);
        assert.equal(h.players + h.spectators, 0, 'the foreign page got no seat');
      } finally {
        await context.close();
        await site.close();
      }
    }));
}

test('poll: the host goes away behind nginx: the page says so after its retries', () =>
  behindProxy('nginx', 'nginx-strip.conf', { vars: KEEP_HOST_NGINX }, async ({ host, proxy }) => {
    const page = await openPage(browser, { url: proxy.url });
    try {
      await waitState(page, 'playing');
      assert.equal(await page.evaluate(() => document.body.dataset.signal), 'poll');
      await host.stop('SIGKILL'); // nginx now answers 502 for the host
      await waitState(page, 'error', 40_000); // the page retries for its reconnect window (20 s) first
      // The page retries the proxy's 502s for its reconnect window, then gives
      // up (the video connection may notice first: either way it blames the host).
      assert.match(await page.locator('#error').textContent(), /Lost the connection to the couchplay host|video connection to the host/);
    } finally {
      await page.context().close();
    }
  }));
