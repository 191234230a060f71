/**
 * The lab's client: run inside a client namespace, it connects to an address as a real client would and
 * prints, as one JSON line, which backends answered (see identity_server.ts for what they answer).
 *
 * - `probe banner HOST PORT --count N`: N sequential TCP connections; each reads the first line.
 * - `probe udp HOST PORT --count N`: N datagrams from one socket (one client address), or with `--fresh`
 *   one socket per datagram; each waits for its reply.
 * - `probe stream HOST PORT`: one TCP connection driven through stdin: prints `{"event":"connected",
 *   "name":...}`, then writes every stdin line to the socket and prints each echoed line as
 *   `{"event":"echo","line":...}`; stdin's end half-closes the socket; prints `{"event":"end"}` at the end.
 *
 * @example node probe.ts banner 198.19.0.10 80 --count 6
 * @module
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { isMainModule } from './node_child.ts';

/** What a counted probe saw. */
export interface ProbeResult {
  /** The name each successful attempt got, in order. */
  readonly names: readonly string[];
  /** Failed attempts with their reason. */
  readonly failures: readonly string[];
  /** Milliseconds each attempt took, in order (successful or not). */
  readonly durationsMs: readonly number[];
}

/**
 * Opens `count` TCP connections one after the other and reads the banner line of each.
 *
 * @param host an IP address
 * @param port the port
 * @param options count and per-connection timeout
 * @returns names, failures and durations
 * @example const { names } = await probeBanner('198.19.0.10', 80, { count: 3, timeoutMs: 5000 })
 */
export async function probeBanner(
  host: string,
  port: number,
  options: { readonly count: number; readonly timeoutMs: number },
): Promise<ProbeResult> {
  const names: string[] = [];
  const failures: string[] = [];
  const durationsMs: number[] = [];
  for (let i = 0; i < options.count; i++) {
    const start = performance.now();
    try {
      names.push(await readBanner(host, port, options.timeoutMs));
    } catch (error) {
      failures.push(String(error instanceof Error ? error.message : error));
    }
    durationsMs.push(Math.round(performance.now() - start));
  }
  return { names, failures, durationsMs };
}

function readBanner(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`Timed out after ${timeoutMs} ms: got ${JSON.stringify(data)}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const newline = data.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data.slice(0, newline));
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`Connection closed before a banner: got ${JSON.stringify(data)}`));
    });
  });
}

/**
 * Sends `count` datagrams, one at a time, and waits for each reply.
 *
 * @param host an IP address
 * @param port the port
 * @param options count, per-datagram timeout, and whether each datagram uses a fresh socket (a new client
 *   address) instead of one shared socket
 * @returns the replies' texts, failures and durations
 * @example const { names } = await probeUdp('198.19.0.10', 53, { count: 3, timeoutMs: 2000, fresh: false })
 */
export async function probeUdp(
  host: string,
  port: number,
  options: { readonly count: number; readonly timeoutMs: number; readonly fresh: boolean },
): Promise<ProbeResult> {
  const type = host.includes(':') ? 'udp6' : 'udp4';
  const names: string[] = [];
  const failures: string[] = [];
  const durationsMs: number[] = [];
  let shared = options.fresh ? undefined : createSocket(type);
  try {
    for (let i = 0; i < options.count; i++) {
      const socket = shared ?? createSocket(type);
      const start = performance.now();
      try {
        names.push(await exchangeDatagram(socket, host, port, `ping ${i}`, options.timeoutMs));
      } catch (error) {
        failures.push(String(error instanceof Error ? error.message : error));
      } finally {
        if (shared === undefined) socket.close();
      }
      durationsMs.push(Math.round(performance.now() - start));
    }
  } finally {
    shared?.close();
    shared = undefined;
  }
  return { names, failures, durationsMs };
}

function exchangeDatagram(
  socket: ReturnType<typeof createSocket>,
  host: string,
  port: number,
  text: string,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Buffer, rinfo: { address: string; port: number }): void => {
      // A reply must come from the address the client sent to: that is what a UDP client checks.
      if (rinfo.address !== host || rinfo.port !== port) {
        done(new Error(`Reply from ${rinfo.address}:${rinfo.port}, not from ${host}:${port}`));
        return;
      }
      done(undefined, msg.toString('utf8'));
    };
    const onError = (error: Error): void => done(error);
    const timer = setTimeout(() => done(new Error(`No reply within ${timeoutMs} ms`)), timeoutMs);
    const done = (error: Error | undefined, value?: string): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      socket.off('error', onError);
      if (error !== undefined) reject(error);
      else resolve(value ?? '');
    };
    socket.on('message', onMessage);
    socket.on('error', onError);
    socket.send(text, port, host);
  });
}

function runStream(host: string, port: number): void {
  const print = (event: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify(event)}\n`);
  };
  const socket = connect({ host, port, allowHalfOpen: true });
  socket.setEncoding('utf8');
  let buffered = '';
  let named = false;
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (named) print({ event: 'echo', line });
      else {
        named = true;
        print({ event: 'connected', name: line });
      }
    }
  });
  socket.on('end', () => {
    print({ event: 'end' });
    socket.end();
  });
  socket.on('error', (error) => print({ event: 'error', message: error.message }));
  socket.on('close', () => process.exit(0));
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => socket.write(`${line}\n`));
  input.on('close', () => socket.end());
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      count: { type: 'string', default: '1' },
      'timeout-ms': { type: 'string', default: '5000' },
      fresh: { type: 'boolean', default: false },
    },
  });
  const [command, host, portText] = positionals;
  if (host === undefined || portText === undefined)
    throw new Error('Usage: probe banner|udp|stream HOST PORT');
  const port = Number(portText);
  const count = Number(values.count);
  const timeoutMs = Number(values['timeout-ms']);
  switch (command) {
    case 'banner':
      process.stdout.write(`${JSON.stringify(await probeBanner(host, port, { count, timeoutMs }))}\n`);
      return;
    case 'udp':
      process.stdout.write(
        `${JSON.stringify(await probeUdp(host, port, { count, timeoutMs, fresh: values.fresh }))}\n`,
      );
      return;
    case 'stream':
      runStream(host, port);
      return;
    default:
      throw new Error(`Unknown probe command: ${String(command)}`);
  }
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
