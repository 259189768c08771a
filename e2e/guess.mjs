// A brute force of the room code against a real host, bounded in time, on
// loopback only: WHEP requests from many source addresses (127.A.B.C; Linux
// routes all of 127/8 to lo) each guessing a 4-digit code in order, as an
// attacker with unlimited addresses would. It prints what the host answered
// and whether any guess got in. Measures, never asserts (the Go tests in
// signal/guess_test.go assert the limits).
//
//   node e2e/guess.mjs [--seconds 60] [--addresses 1000] [--parallel 16]
import http from 'node:http';
import { parseArgs } from 'node:util';
import { startCodeHost } from './helpers.mjs';

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    addresses: { type: 'string', default: '1000' },
    parallel: { type: 'string', default: '16' },
  },
});
const SECONDS = Number(opt.seconds);
const ADDRESSES = Number(opt.addresses);
const PARALLEL = Number(opt.parallel);

function whep(host, bearer, localAddress) {
  const url = new URL('whep', host.url);
  return new Promise((resolve) => {
    const req = http.request(url, {
      method: 'POST', localAddress, agent: false,
      headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/sdp' },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', (err) => resolve(`error ${err.code}`));
    req.setTimeout(5000, () => req.destroy());
    req.end('v=0\r\n'); // not a usable offer: a request that got past the code gets 400
  });
}

const host = await startCodeHost();
const statuses = {};
let tries = 0;
let hits = 0;
let next = 0;
let keyChecks = 0;
let keyRefused = 0;
const start = performance.now();
const deadline = start + SECONDS * 1000;
const address = (i) => `127.${1 + ((i >> 16) & 0xff)}.${(i >> 8) & 0xff}.${1 + (i & 0x7f)}`;
try {
  const worker = async () => {
    while (performance.now() < deadline) {
      const guess = String(next++ % 10000).padStart(4, '0');
      const status = await whep(host, guess, address(tries % ADDRESSES));
      tries++;
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status !== 403 && status !== 429) hits++;
    }
  };
  // Meanwhile the QR code's key must still get in (past the code: 400 for the junk offer).
  const keyWorker = async () => {
    while (performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      const status = await whep(host, host.key, '127.0.0.1');
      keyChecks++;
      if (status === 401 || status === 403 || status === 429) keyRefused++;
    }
  };
  await Promise.all([...Array.from({ length: PARALLEL }, worker), keyWorker()]);
} finally {
  await host.stop();
}
const seconds = (performance.now() - start) / 1000;
const newCodes = (host.log.match(/new room code/g) ?? []).length;
console.log(`guess: ${tries} guesses in ${seconds.toFixed(0)} s from ${Math.min(ADDRESSES, tries)} addresses over WHEP`);
console.log(`guess: answers ${JSON.stringify(statuses)}; guesses that got in: ${hits}`);
console.log(`guess: new room codes made: ${newCodes}; the join key checked ${keyChecks} times, refused ${keyRefused}`);
console.log(`guess: the code was ${host.code} at start; wrong codes that counted: at most 30 per 10 minutes, so 3 a minute on average`);
