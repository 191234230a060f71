/**
 * The chaos lab's client: run inside a client namespace, it sends bounded steady traffic through a service
 * VIP until its stdin ends (or its time or count bound is reached), then prints one JSON line with what it
 * saw ({@link TrafficReport}).
 *
 * - TCP: sequential new connections to the identity servers' banner port (see src/lab/identity_server.ts),
 *   each one request: connect, read the banner line (`podN`), close. Every connection has a new source port.
 * - UDP: sequential request/reply datagrams, each from a fresh socket (a new source port, so that a stale
 *   conntrack entry of one flow cannot hide or cause a failure of the next).
 *
 * Both loops run side by side; each attempt has a timeout; a failure is counted with its reason and time.
 *
 * @example node traffic.ts --vip 198.19.0.10 --tcp-port 80 --udp-port 53 --max-ms 60000
 * @module
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { isMainModule } from '../../src/lab/node_child.ts';
import { type AttemptSummary, AttemptTracker, failureReason } from './outages.ts';

/** What the traffic child prints at the end. */
export interface TrafficReport {
  readonly tcp: AttemptSummary;
  readonly udp: AttemptSummary | undefined;
}

/** What a backend answers: its lab name. */
const POD_NAME = /^pod\d+$/;

/** A failed attempt that no socket error names: an Error whose `code` is the reason counted. */
function attemptError(code: string): Error {
  return Object.assign(new Error(code), { code });
}

function tcpOnce(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = '';
    const finish = (error: unknown, name = '') => {
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve(name);
      else reject(error);
    };
    const timer = setTimeout(() => finish(attemptError('TIMEOUT')), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const newline = data.indexOf('\n');
      if (newline >= 0) {
        const name = data.slice(0, newline);
        finish(POD_NAME.test(name) ? undefined : attemptError('BAD_REPLY'), name);
      }
    });
    socket.on('error', (error) => finish(error));
    socket.on('end', () => finish(attemptError('EOF_BEFORE_BANNER')));
  });
}

function udpOnce(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const finish = (error: unknown, name = '') => {
      clearTimeout(timer);
      socket.close();
      if (error === undefined) resolve(name);
      else reject(error);
    };
    const timer = setTimeout(() => finish(attemptError('TIMEOUT')), timeoutMs);
    socket.on('message', (msg) => {
      const name = msg.toString('utf8');
      finish(POD_NAME.test(name) ? undefined : attemptError('BAD_REPLY'), name);
    });
    socket.on('error', (error) => finish(error));
    socket.send('who', port, host);
  });
}

async function loop(
  tracker: AttemptTracker,
  attempt: () => Promise<string>,
  shouldStop: () => boolean,
  pauseMs: number,
): Promise<void> {
  while (!shouldStop()) {
    try {
      const name = await attempt();
      tracker.success(Date.now(), name);
    } catch (error) {
      tracker.failure(Date.now(), failureReason(error));
      // After a failure, a short pause: an immediate refusal must not turn into a busy loop.
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vip: { type: 'string' },
      'tcp-port': { type: 'string' },
      'udp-port': { type: 'string', default: '0' },
      'timeout-ms': { type: 'string', default: '1000' },
      'max-ms': { type: 'string', default: '120000' },
      'max-attempts': { type: 'string', default: '2000000' },
    },
  });
  const vip = values.vip ?? '';
  const tcpPort = Number(values['tcp-port']);
  const udpPort = Number(values['udp-port']);
  const timeoutMs = Number(values['timeout-ms']);
  const deadline = Date.now() + Number(values['max-ms']);
  const maxAttempts = Number(values['max-attempts']);
  let stdinEnded = false;
  process.stdin.on('end', () => {
    stdinEnded = true;
  });
  process.stdin.resume();
  const tcp = new AttemptTracker();
  const udp = new AttemptTracker();
  const stopAfter = (t: AttemptTracker) => () =>
    stdinEnded || Date.now() >= deadline || t.tried >= maxAttempts;
  process.stdout.write('ready\n');
  await Promise.all([
    loop(tcp, () => tcpOnce(vip, tcpPort, timeoutMs), stopAfter(tcp), 10),
    udpPort > 0 ? loop(udp, () => udpOnce(vip, udpPort, timeoutMs), stopAfter(udp), 10) : undefined,
  ]);
  const report: TrafficReport = { tcp: tcp.summary(), udp: udpPort > 0 ? udp.summary() : undefined };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}

if (isMainModule(import.meta.url)) await main();
