/**
 * The first-packet probe: run inside a client namespace, it opens `count` TCP connections one after the
 * other and times each from `connect()` to the established socket (SYN out, SYN-ACK back: the first
 * packet's walk through the node's rules is in there), then resets it. A few warm-up connections are not
 * counted. Prints one JSON line: `{"samplesUs":[...],"failures":N,"firstFailure":"..."}`.
 *
 * With `--serve` it stays up and answers one such line per request line read from stdin
 * (`{"host":...,"port":...,"count":...,"warmup":...,"timeoutMs":...}`): one process start per benchmark
 * instead of one per measurement (a start costs seconds in the software-emulated guest).
 *
 * @example node connect_timer.ts 198.19.39.10 80 --count 500 --warmup 20
 * @module
 */
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { isMainModule } from '../../src/lab/node_child.ts';

/** What a connect-timing run saw. */
export interface ConnectTimes {
  /** Microseconds per successful connection, in order. */
  readonly samplesUs: readonly number[];
  readonly failures: number;
  readonly firstFailure?: string | undefined;
}

/** One measurement request of the `--serve` mode. */
export interface ConnectRequest {
  readonly host: string;
  readonly port: number;
  readonly count: number;
  readonly warmup: number;
  readonly timeoutMs: number;
}

/**
 * Times sequential TCP connects.
 *
 * @param host an IP address
 * @param port the port
 * @param options how many (counted and warm-up) and the per-connect timeout
 * @returns the samples and failures
 * @example const { samplesUs } = await timeConnects('198.18.101.10', 8080, { count: 100, warmup: 10, timeoutMs: 2000 })
 */
export async function timeConnects(
  host: string,
  port: number,
  options: { readonly count: number; readonly warmup: number; readonly timeoutMs: number },
): Promise<ConnectTimes> {
  const samplesUs: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;
  for (let i = 0; i < options.warmup + options.count; i++) {
    try {
      const us = await connectOnce(host, port, options.timeoutMs);
      if (i >= options.warmup) samplesUs.push(us);
    } catch (error) {
      if (i < options.warmup) continue;
      failures++;
      firstFailure ??= error instanceof Error ? error.message : String(error);
    }
  }
  return { samplesUs, failures, firstFailure };
}

function connectOnce(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const socket = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`Connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      const us = Number(process.hrtime.bigint() - start) / 1000;
      clearTimeout(timer);
      // A reset leaves no TIME_WAIT behind: thousands of probes must not run out of ports.
      socket.resetAndDestroy();
      resolve(Math.round(us * 10) / 10);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/** Answers request lines until stdin ends; a bad request gets `{"error":...}`. */
async function serve(): Promise<void> {
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    let answer: unknown;
    try {
      const r = JSON.parse(line) as ConnectRequest;
      if (!(Number.isInteger(r.count) && r.count >= 1 && r.count <= 100_000)) {
        throw new Error(`Bad count: ${r.count} (1-100000)`);
      }
      answer = await timeConnects(r.host, r.port, r);
    } catch (error) {
      answer = { error: error instanceof Error ? error.message : String(error) };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--serve')) {
    process.stdout.write('ready\n');
    await serve();
    return;
  }
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      count: { type: 'string', default: '200' },
      warmup: { type: 'string', default: '10' },
      'timeout-ms': { type: 'string', default: '2000' },
    },
  });
  const [host, port] = positionals;
  const count = Number(values.count);
  if (host === undefined || port === undefined || !(count >= 1 && count <= 100_000)) {
    throw new Error('Usage: connect_timer HOST PORT [--count 1-100000] [--warmup N] [--timeout-ms MS]');
  }
  const result = await timeConnects(host, Number(port), {
    count,
    warmup: Number(values.warmup),
    timeoutMs: Number(values['timeout-ms']),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
