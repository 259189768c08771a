// Real nginx and apache2 instances for the proxy e2e tests: each runs in the
// foreground from a config generated into its own temp dir (pid file, logs and
// temp paths inside it), listens on 127.0.0.1 only and is stopped by its PID.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stopOnExit } from '../helpers.mjs';

const configDir = path.dirname(fileURLToPath(import.meta.url));
const START_MS = 15_000;
const STOP_MS = 5_000;

export const PROXIES = Object.freeze({
  nginx: {
    binary: '/usr/sbin/nginx',
    package: 'nginx',
    args: (dir) => ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    configName: 'nginx.conf',
  },
  apache2: {
    binary: '/usr/sbin/apache2',
    package: 'apache2',
    // -X: one process in the foreground, so its PID is the whole server.
    args: (dir) => ['-X', '-f', path.join(dir, 'apache2.conf'), '-d', dir],
    configName: 'apache2.conf',
  },
});

// Config dirs not yet removed by stop(): removed on any way out (helpers.mjs
// has signalled the servers by then).
const leftoverDirs = new Set();
process.on('exit', () => { for (const dir of leftoverDirs) fs.rmSync(dir, { recursive: true, force: true }); });

// Fails (never skips) when the server is missing: `make test` installs it.
export function requireProxy(kind) {
  const p = PROXIES[kind];
  if (!fs.existsSync(p.binary)) {
    throw new Error(`${kind} is not installed (${p.binary} is missing): the proxy e2e tests need the real server; ` +
      `\`make test\` installs it (Debian package ${p.package}), or run: apt-get install ${p.package}`);
  }
}

// A port that was free a moment ago on 127.0.0.1 (bound to port 0, then released).
export async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => { srv.once('error', reject); srv.listen(0, '127.0.0.1', resolve); });
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

function render(template, vars) {
  let text = fs.readFileSync(path.join(configDir, template), 'utf8');
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`@${k}@`, v);
  const left = text.match(/@[A-Z_]+@/);
  if (left) throw new Error(`${template}: no value for ${left[0]}`);
  return text;
}

// Starts kind ('nginx' | 'apache2') with template (a file in e2e/proxy/) in
// front of upstream ("127.0.0.1:PORT"); resolves once it proxies /games/healthz.
// port: the port to listen on (default: a free one). vars: extra placeholders.
export async function startProxy(kind, template, { upstream, port, vars = {} }) {
  requireProxy(kind);
  const p = PROXIES[kind];
  const fixedPort = port !== undefined;
  // A free port can be taken between freePort() and the bind: then try another.
  for (let attempt = 1; ; attempt++) {
    const listen = fixedPort ? port : await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `couchplay-${kind}-`));
    leftoverDirs.add(dir);
    fs.chmodSync(dir, 0o755); // apache2's and nginx's workers may run as another user
    fs.writeFileSync(path.join(dir, p.configName), render(template, { DIR: dir, PORT: String(listen), UPSTREAM: upstream, ...vars }));
    const proxy = launch(kind, p, dir, listen);
    try {
      await proxy.ready;
      return proxy;
    } catch (err) {
      const busy = /address already in use|could not bind/i.test(proxy.log());
      await proxy.stop();
      if (!busy || fixedPort || attempt >= 3) throw err;
    }
  }
}

function launch(kind, p, dir, port) {
  // Its own process group: nginx's workers outlive a killed master, so the
  // whole group is signalled (by the master's PID as group id).
  const proc = spawn(p.binary, p.args(dir), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  stopOnExit(proc, { group: true });
  // 'close' comes once every process of the group has let go of the pipes.
  let closed = false;
  const exited = new Promise((resolve) => proc.on('close', (code, sig) => { closed = true; resolve(code ?? sig); }));
  const signal = (sig) => { if (!closed) try { process.kill(-proc.pid, sig); } catch { /* gone */ } };
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const errorLog = () => { try { return fs.readFileSync(path.join(dir, 'error.log'), 'utf8'); } catch { return ''; } };
  const log = () => `${output}${errorLog()}`;
  const url = `http://127.0.0.1:${port}/games/`;
  const proxy = {
    kind, dir, port, url, pid: proc.pid, log,
    async stop() {
      // SIGTERM is the fast stop for both (nginx's SIGQUIT would wait for long-polls).
      signal('SIGTERM');
      const t = setTimeout(() => signal('SIGKILL'), STOP_MS);
      await exited;
      clearTimeout(t);
      fs.rmSync(dir, { recursive: true, force: true });
      leftoverDirs.delete(dir);
    },
  };
  proxy.ready = (async () => {
    const end = Date.now() + START_MS;
    let last = '';
    let gone = null;
    exited.then((how) => { gone = how; });
    for (;;) {
      if (gone !== null) throw new Error(`${kind} exited (${gone}) before serving on port ${port}:\n${log()}`);
      try {
        const res = await fetch(`${url}healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (err) { last = err.message; }
      if (Date.now() > end) throw new Error(`${kind} did not proxy ${url}healthz within ${START_MS} ms (last: ${last}):\n${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return proxy;
}
