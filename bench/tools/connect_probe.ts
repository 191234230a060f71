/**
 * The host side of the first-packet probe: one `connect_timer.ts --serve` process inside the lab's client
 * namespace, asked for one measurement at a time.
 *
 * @module
 */
import { createInterface } from 'node:readline';
import type { Lab } from '../../src/lab/lab.ts';
import { BenchError } from './bench_error.ts';
import type { ConnectRequest, ConnectTimes } from './connect_timer.ts';

const CONNECT_TIMER = new URL('./connect_timer.ts', import.meta.url).href;

/** A running probe. */
export interface ConnectProbe {
  /**
   * Times `request.count` sequential connects from the probe's namespace.
   *
   * @throws {BenchError} when the probe dies, answers with an error, or takes longer than `deadlineMs`
   */
  measure(request: ConnectRequest, deadlineMs: number): Promise<ConnectTimes>;
  stop(): Promise<void>;
}

/**
 * Starts a probe in a lab namespace and waits until it is ready.
 *
 * @param lab the lab
 * @param ns the client namespace
 * @param startTimeoutMs how long its start may take
 * @returns the probe
 */
export async function startConnectProbe(lab: Lab, ns: string, startTimeoutMs: number): Promise<ConnectProbe> {
  const proc = lab.spawnNode(ns, CONNECT_TIMER, ['--serve']);
  let stderr = '';
  proc.child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-1000);
  });
  const lines = createInterface({ input: proc.child.stdout! })[Symbol.asyncIterator]();
  const next = async (timeoutMs: number, what: string): Promise<string> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BenchError(`The connect probe ${what}: no answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const r = await Promise.race([lines.next(), timeout]);
      if (r.done === true) throw new BenchError(`The connect probe exited: ${stderr.trim()}`);
      return r.value;
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    const first = await next(startTimeoutMs, 'did not start');
    if (first !== 'ready') throw new BenchError(`The connect probe did not start: ${first} ${stderr.trim()}`);
  } catch (error) {
    await proc.kill();
    throw error;
  }
  let queue: Promise<unknown> = Promise.resolve();
  return {
    measure(request, deadlineMs) {
      const run = queue.then(async () => {
        proc.child.stdin?.write(`${JSON.stringify(request)}\n`);
        const answer = JSON.parse(await next(deadlineMs, `measuring ${request.host}:${request.port}`)) as
          | ConnectTimes
          | { error: string };
        if ('error' in answer) throw new BenchError(`The connect probe failed: ${answer.error}`);
        return answer;
      });
      queue = run.catch(() => {});
      return run;
    },
    async stop() {
      proc.child.stdin?.end();
      await Promise.race([proc.exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
      await proc.kill();
    },
  };
}
