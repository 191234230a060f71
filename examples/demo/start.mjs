#!/usr/bin/env node
// `npm start`: runs the bundled example without root (and, as root, without touching iptables). Starts
// three demo backends ("pods") on 127.0.0.11-13 (HTTP on 9376, UDP echo on 9377), each answering with
// its own name, then runs `kproxy run --proxy-mode userspace --manifests examples/demo` and prints what to curl.
// Extra arguments are passed to kproxy (e.g. `npm start -- --log-format json`).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const backends = [
  { name: 'backend-1', ip: '127.0.0.11' },
  { name: 'backend-2', ip: '127.0.0.12' },
  { name: 'backend-3', ip: '127.0.0.13' },
];
const closers = [];

for (const b of backends) {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`hello from ${b.name} (${b.ip}:9376), you are ${req.socket.remoteAddress}\n`);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(9376, b.ip, resolve);
  });
  closers.push(() => server.close());
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => udp.send(`${b.name}: ${msg.toString().trim()}\n`, rinfo.port, rinfo.address));
  await new Promise((resolve) => udp.bind(9377, b.ip, resolve));
  closers.push(() => udp.close());
}

const args = [
  join(here, '..', '..', 'bin', 'kproxy.js'),
  'run',
  // `kproxy run` defaults to iptables, as kube-proxy; the demo runs without root, so it names userspace.
  '--proxy-mode',
  'userspace',
  '--manifests',
  here,
  '--hostname-override',
  'demo-node',
  '--log-format',
  'text',
  '--healthz-bind-address',
  '127.0.0.1:10256',
  '--metrics-bind-address',
  '127.0.0.1:10249',
  // The demo VIPs are on loopback and served by listening on them: never touch the host's iptables, even
  // when `npm start` runs as root.
  '--userspace-portals',
  'off',
  ...process.argv.slice(2),
];
const kproxy = spawn(process.execPath, args, { stdio: 'inherit' });
process.stdout.write(
  [
    'Demo backends: 127.0.0.11, 127.0.0.12, 127.0.0.13 (HTTP :9376, UDP echo :9377).',
    'Try, in another terminal:',
    '  curl http://127.0.0.100:8080/     # round-robin over the three backends: run it a few times',
    '  curl http://127.0.0.101:8080/     # ClientIP session affinity: always the same backend',
    '  node examples/demo/udp-send.mjs 127.0.0.102 5353 hi   # UDP: one datagram, prints the reply',
    '  curl http://127.0.0.1:10249/metrics ; curl http://127.0.0.1:10256/healthz',
    `Edit ${here}/*.yaml while it runs; Ctrl-C stops.`,
    '',
  ].join('\n'),
);
const stop = (signal) => kproxy.kill(signal);
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
kproxy.on('exit', (code, signal) => {
  for (const close of closers) close();
  process.exitCode = code ?? (signal ? 0 : 1);
});
