/**
 * A client for the graceful-stop test: run inside a lab client namespace, it runs a bounded series of
 * slow "requests" against a banner/echo server behind a VIP (see src/lab/identity_server.ts) and reports
 * each one as a JSON line on stdout:
 *
 * - `{"event":"response","id":N}` when the request got the first byte of its response (the banner);
 * - `{"event":"done","id":N,"responded":bool,"complete":bool,"error"?:string}` when it ended;
 * - `{"event":"summary","sessions":N}` once every request ended (then it exits 0).
 *
 * One request: connect, read the banner line, send `chunks` lines `interval-ms` apart, half-close, read
 * the echo to its end. Complete = the banner and every line came back, in order, and the server ended
 * cleanly. `concurrency` requests run at a time until `sessions` were started; each is bounded by
 * `timeout-ms`.
 *
 * @example node drain_client.ts 198.19.0.20 80 --sessions 16 --concurrency 3 --chunks 5 --interval-ms 120
 * @module
 */
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { isMainModule } from '../../lab/node_child.ts';

/** The last line of one request. */
export interface DrainClientDone {
  readonly event: 'done';
  readonly id: number;
  readonly responded: boolean;
  readonly complete: boolean;
  readonly error?: string;
}

/** One line of the client's output. */
export type DrainClientEvent =
  | { readonly event: 'response'; readonly id: number }
  | DrainClientDone
  | { readonly event: 'summary'; readonly sessions: number };

interface RequestOptions {
  readonly host: string;
  readonly port: number;
  readonly chunks: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

function print(event: DrainClientEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function request(id: number, options: RequestOptions): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: options.host, port: options.port, allowHalfOpen: true });
    socket.setEncoding('utf8');
    const lines = Array.from({ length: options.chunks }, (_, k) => `request ${id} line ${k}\n`);
    let received = '';
    let banner: string | undefined;
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    let finished = false;
    const finish = (error?: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      socket.destroy();
      const responded = banner !== undefined;
      const complete = error === undefined && ended && responded && received === banner + lines.join('');
      print({ event: 'done', id, responded, complete, ...(error === undefined ? {} : { error }) });
      resolve();
    };
    const deadline = setTimeout(() => finish(`Timed out after ${options.timeoutMs} ms`), options.timeoutMs);
    const sendNext = (): void => {
      if (sent === lines.length) {
        socket.end();
        return;
      }
      socket.write(lines[sent++]!);
      timer = setTimeout(sendNext, options.intervalMs);
    };
    socket.on('data', (chunk: string) => {
      received += chunk;
      const newline = received.indexOf('\n');
      if (banner === undefined && newline >= 0) {
        banner = received.slice(0, newline + 1);
        print({ event: 'response', id });
        sendNext();
      }
    });
    socket.on('end', () => {
      ended = true;
      finish();
    });
    socket.on('error', (error) => finish(error.message));
    socket.on('close', () => finish('Closed before the end of the response'));
  });
}

/**
 * Runs the series.
 *
 * @param options target, number of requests, concurrency, and the shape of each request
 * @returns when every request has ended
 */
export async function runDrainClient(
  options: RequestOptions & { readonly sessions: number; readonly concurrency: number },
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.sessions) await request(next++, options);
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.sessions) }, worker));
  print({ event: 'summary', sessions: options.sessions });
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      sessions: { type: 'string', default: '16' },
      concurrency: { type: 'string', default: '3' },
      chunks: { type: 'string', default: '5' },
      'interval-ms': { type: 'string', default: '120' },
      'timeout-ms': { type: 'string', default: '15000' },
    },
  });
  const [host, portText] = positionals;
  if (host === undefined || portText === undefined)
    throw new Error('Usage: drain_client HOST PORT [options]');
  const bounded = (text: string, max: number): number => Math.min(max, Math.max(1, Number(text)));
  await runDrainClient({
    host,
    port: Number(portText),
    sessions: bounded(values.sessions, 200),
    concurrency: bounded(values.concurrency, 20),
    chunks: bounded(values.chunks, 100),
    intervalMs: bounded(values['interval-ms'], 5000),
    timeoutMs: bounded(values['timeout-ms'], 60_000),
  });
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
