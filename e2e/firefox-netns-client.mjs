// The browser side of firefox.test.mjs's LAN test, run by it inside the
// browser's network namespace (`ip netns exec NS node firefox-netns-client.mjs URL`):
// Firefox must run there, and puppeteer-core must reach its BiDi socket on
// that namespace's loopback, so both run in this process. It plays the host
// at URL once (join, hold KeyX → white, release → black) and prints one JSON
// line with what it saw; the test asserts on it. No assertions here.
//
// Firefox runs as a LAN user's would: no loopback pref and no camera or
// microphone permission, so it gathers only on its default route's address
// and hides it behind an mDNS name; the host learns the real address from
// the connectivity checks (a peer-reflexive candidate).
import { launchFirefox, openFirefoxPage, ffWaitState, ffWaitSlot, ffWaitColour, dataset, offSiteAttempts } from './firefox-helpers.mjs';

const url = process.argv[2];
const out = { steps: [], ms: {} };
const t0 = Date.now();
const step = (name) => { out.steps.push(name); out.ms[name] = Date.now() - t0; };
let browser;
let page;
try {
  browser = await launchFirefox({ loopback: false });
  // The test stops this Firefox by its process group if this process dies first.
  console.log(JSON.stringify({ firefoxPid: browser.process()?.pid }));
  out.version = await browser.version();
  out.ms.launched = Date.now() - t0;
  page = await openFirefoxPage(browser, url);
  await ffWaitState(page, 'playing');
  step('playing');
  out.slot = await ffWaitSlot(page);
  out.dataset = await dataset(page);
  await ffWaitColour(page, 'black');
  step('black');
  await page.keyboard.down('KeyX');
  const pressed = Date.now();
  await ffWaitColour(page, 'white');
  out.whiteAfterMs = Date.now() - pressed;
  step('white');
  await page.keyboard.up('KeyX');
  await ffWaitColour(page, 'black');
  step('black again');
  // The ICE pair in use and the local candidates, from the page's own peer.
  out.ice = await page.evaluate(async () => {
    const report = await window.couchplay.pc.getStats();
    const byId = new Map([...report.values()].map((s) => [s.id, s]));
    const cand = (s) => (s ? { address: s.address, port: s.port, type: s.candidateType, protocol: s.protocol } : null);
    const pair = [...report.values()].find((s) => s.type === 'candidate-pair' && s.state === 'succeeded' && (s.selected || s.nominated));
    return {
      local: cand(byId.get(pair?.localCandidateId)),
      remote: cand(byId.get(pair?.remoteCandidateId)),
      localCandidates: [...report.values()].filter((s) => s.type === 'local-candidate').map(cand),
    };
  });
  const res = await fetch(new URL('healthz', url), { signal: AbortSignal.timeout(5000) });
  out.health = await res.json();
} catch (err) {
  out.error = err.message;
  out.console = page?.consoleLog;
} finally {
  if (browser) out.offSite = offSiteAttempts(browser);
  await browser?.close().catch(() => {});
}
console.log(JSON.stringify({ result: out }));
