// WebKitGTK for the e2e tests (e2e/webkit.test.mjs): Debian's MiniBrowser
// (libwebkit2gtk-4.1-0) driven by WebKitWebDriver (webkit2gtk-driver) over
// classic W3C WebDriver, under a private Xvfb when there is no display.
//
// The client is these few fetch calls, not a package: WebKitWebDriver speaks
// only classic WebDriver (no BiDi, no CDP), so playwright-core and
// puppeteer-core (already here) cannot drive it, and a classic client such as
// selenium-webdriver or webdriverio would add a large dependency tree for the
// five commands used here (new session, navigate, execute script, perform
// actions, delete session).
import { spawn } from 'node:child_process';
import net from 'node:net';
import { stopOnExit, WAIT_MS } from './helpers.mjs';

export const miniBrowserPath = process.env.MINIBROWSER || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
export const webDriverPath = process.env.WEBKIT_WEBDRIVER || '/usr/bin/WebKitWebDriver';
export const xvfbPath = process.env.XVFB || '/usr/bin/Xvfb';

const LOG_MAX = 64 * 1024; // the tail of a child's output kept for failure messages

// Output of a child process: the last LOG_MAX characters of stdout and stderr.
function captureLog(proc) {
  let log = '';
  const add = (d) => { log = (log + d).slice(-LOG_MAX); };
  proc.stdout?.on('data', add);
  proc.stderr?.on('data', add);
  return () => log;
}

// Ends a child (and with group, the process group it leads) by its PID:
// SIGTERM, then SIGKILL if it has not gone within 5 s.
async function stopChild(proc, { group = false } = {}) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const target = group ? -proc.pid : proc.pid;
  const gone = new Promise((resolve) => proc.once(group ? 'close' : 'exit', resolve));
  try { process.kill(target, 'SIGTERM'); } catch { return; }
  const t = setTimeout(() => { try { process.kill(target, 'SIGKILL'); } catch { /* gone */ } }, 5000);
  await gone;
  clearTimeout(t);
}

// A display for the browser: $DISPLAY when set, else a private Xvfb. Xvfb
// picks a free display number itself (-displayfd writes it once the server
// accepts connections), so two test runs never race for one. env: what the
// browser's environment needs to use it (GTK on the Xvfb even where a
// Wayland session is around).
export async function startDisplay() {
  if (process.env.DISPLAY) return { display: process.env.DISPLAY, env: {}, pid: null, stop: async () => {} };
  const proc = spawn(xvfbPath, ['-displayfd', '1', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stopOnExit(proc);
  const log = captureLog(proc);
  const display = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`Xvfb named no display within ${WAIT_MS} ms:\n${log()}`)), WAIT_MS);
    const fail = (err) => { clearTimeout(timer); proc.kill('SIGKILL'); reject(err); };
    let out = '';
    proc.stdout.on('data', (d) => {
      const m = (out += d).match(/^(\d+)\n/);
      if (m) { clearTimeout(timer); resolve(`:${m[1]}`); }
    });
    proc.on('exit', (code, sig) => fail(new Error(`Xvfb exited (${code ?? sig}):\n${log()}`)));
    proc.on('error', fail);
  });
  return { display, env: { GDK_BACKEND: 'x11' }, pid: proc.pid, stop: () => stopChild(proc) };
}

// A free TCP port on loopback (closed again at once: WebKitWebDriver takes
// only a port number; a clash makes it exit, and startDriver tries again).
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Starts WebKitWebDriver on a free 127.0.0.1 port, in its own process group:
// the MiniBrowser it launches, and that one's web, network and GPU processes,
// belong to the group, so stop() (and the exit handler of helpers.mjs, if the
// test process dies) ends all of them through the driver's PID.
export async function startDriver({ display, env = {} } = {}) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = spawn(webDriverPath, [`--port=${port}`, '--host=127.0.0.1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, DISPLAY: display, ...env },
    });
    stopOnExit(proc, { group: true });
    const log = captureLog(proc);
    const url = `http://127.0.0.1:${port}`;
    const exited = new Promise((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig)));
    const ready = (async () => {
      const end = Date.now() + WAIT_MS;
      while (Date.now() < end) {
        try {
          const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2000) });
          if ((await res.json()).value?.ready) return true;
        } catch { /* not listening yet */ }
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    })();
    const result = await Promise.race([ready, exited.then((code) => ({ code }))]);
    if (result === true) {
      return {
        url, pid: proc.pid, log,
        newSession: (capabilities) => newSession(url, capabilities, log),
        stop: () => stopChild(proc, { group: true }),
      };
    }
    lastErr = new Error(`WebKitWebDriver on port ${port} ${result === false ? 'never became ready' : `exited (${result.code})`}:\n${log()}`);
    await stopChild(proc, { group: true });
  }
  throw lastErr;
}

// One classic WebDriver command; the value, or an Error with the driver's message.
async function command(url, method, path, body, timeout = 2 * WAIT_MS) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { throw new Error(`WebDriver ${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 500)}`); }
  if (!res.ok || json.value?.error) {
    throw new Error(`WebDriver ${method} ${path}: ${json.value?.error ?? res.status}: ${json.value?.message ?? text.slice(0, 500)}`);
  }
  return json.value;
}

async function newSession(url, capabilities, log) {
  let value;
  try {
    value = await command(url, 'POST', '/session', { capabilities: { alwaysMatch: capabilities } });
  } catch (err) {
    throw new Error(`${err.message}\nWebKitWebDriver and MiniBrowser said:\n${log()}`, { cause: err });
  }
  const base = `/session/${value.sessionId}`;
  const cmd = (method, path, body, timeout) => command(url, method, `${base}${path}`, body, timeout);
  // fn runs in the page with args (JSON values); a promise it returns is
  // awaited (WebDriver's "execute script" awaits it). fn is a function or its source text.
  const execute = (fn, ...args) => cmd('POST', '/execute/sync', { script: `return (${fn}).apply(null, arguments);`, args });
  const keyActions = (actions) => cmd('POST', '/actions', { actions: [{ type: 'key', id: 'keyboard', actions }] });
  return {
    id: value.sessionId,
    capabilities: value.capabilities,
    navigate: (to) => cmd('POST', '/url', { url: to }),
    execute,
    keyDown: (key) => keyActions([{ type: 'keyDown', value: key }]),
    keyUp: (key) => keyActions([{ type: 'keyUp', value: key }]),
    // Ends the session: WebKitWebDriver closes the browser.
    close: () => cmd('DELETE', ''),
  };
}
