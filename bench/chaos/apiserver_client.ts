/**
 * The host side of the chaos lab's API server (apiserver_child.ts): starts it in the node namespace and
 * sends it one command at a time.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Lab } from '../../src/lab/lab.ts';
import { BenchError } from '../tools/bench_error.ts';
import type { ApiServerCommand } from './apiserver_child.ts';
import { type ChaosEndpoint, serviceManifest } from './manifests.ts';

const CHILD = new URL('./apiserver_child.ts', import.meta.url).href;

/** The API server of a chaos run. */
export interface ApiServerChild {
  /** The kubeconfig kproxy is given (`--kubeconfig`). */
  readonly kubeconfigPath: string;
  /** Stores the probed service with these endpoints (a watch event for kproxy). */
  setService(endpoints: readonly ChaosEndpoint[]): Promise<void>;
  /** Listening (true) or gone (false). */
  setUp(up: boolean): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the API server child in a namespace of the lab.
 *
 * @param lab the lab
 * @param ns where kproxy will run (it reaches the server on that namespace's 127.0.0.1)
 * @param options how long the child may take to start or to answer a command (default 20 s)
 * @returns the running server
 * @example const api = await startApiServerChild(lab, lab.node.ns, { timeoutMs: 20_000 })
 */
export async function startApiServerChild(
  lab: Lab,
  ns: string,
  options: { readonly timeoutMs?: number | undefined } = {},
): Promise<ApiServerChild> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const dir = await mkdtemp(join(tmpdir(), 'kproxy-chaos-api-'));
  const proc = lab.spawnNode(ns, CHILD, ['--dir', dir]);
  let stderr = '';
  proc.child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-2000);
  });
  const lines = createInterface({ input: proc.child.stdout! })[Symbol.asyncIterator]();
  const next = async (what: string): Promise<string> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BenchError(`The API server child ${what}: no answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const r = await Promise.race([lines.next(), timeout]);
      if (r.done === true) throw new BenchError(`The API server child exited: ${stderr.trim()}`);
      return r.value;
    } finally {
      clearTimeout(timer);
    }
  };
  const send = async (command: ApiServerCommand): Promise<void> => {
    proc.child.stdin?.write(`${JSON.stringify(command)}\n`);
    const answer = await next(command.op);
    if (answer !== 'ok') throw new BenchError(`The API server child: ${answer}`);
  };
  try {
    const first = await next('did not start');
    if (first !== 'ready') throw new BenchError(`The API server child did not start: ${first}`);
  } catch (error) {
    await proc.kill();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    kubeconfigPath: join(dir, 'kubeconfig'),
    setService: (endpoints) => send({ op: 'apply', yaml: serviceManifest(endpoints) }),
    setUp: (up) => send({ op: up ? 'up' : 'down' }),
    async stop() {
      proc.child.stdin?.end();
      await proc.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
