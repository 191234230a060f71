/**
 * The chaos lab's API server: the wire-protocol test server (src/sources/apiserver/testing/fake_apiserver.ts)
 * run as a child process inside the lab's node namespace, so that kproxy reaches it on that namespace's
 * 127.0.0.1. It writes a kubeconfig into `--dir`, prints `ready`, then takes one JSON command per stdin
 * line and answers each with `ok` (or `error: ...`):
 *
 * - `{"op":"apply","yaml":"..."}`: creates or replaces the Services and EndpointSlices of the YAML text;
 * - `{"op":"down"}` / `{"op":"up"}`: stops listening (connections refused, watches cut) / listens again on
 *   the same port, with every change made meanwhile in its history (a watch resumes from where it was).
 *
 * The process ends with its stdin.
 *
 * @example node apiserver_child.ts --dir /tmp/kproxy-chaos-x
 * @module
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { isMainModule } from '../../src/lab/node_child.ts';

/**
 * The fake's module, loaded at run time. bench/ may not import the sources' test support statically
 * (.dependency-cruiser.cjs, bench-uses-public-seams: benchmarks use public seams); this child is lab
 * support like the lab's identity server, not a benchmark, and the wire-protocol fake is the only API
 * server there is to break. Allowing `bench/chaos/` → `src/sources/apiserver/testing/fake_apiserver.ts` in
 * that rule would let this be a plain import and {@link FakeApiServer} below its own type.
 */
const FAKE_APISERVER = new URL('../../src/sources/apiserver/testing/fake_apiserver.ts', import.meta.url).href;

/** The part of the fake's API this child uses (see fake_apiserver.ts). */
interface FakeApiServer {
  upsert(resource: 'services' | 'endpointslices', object: FakeObject): unknown;
  writeKubeconfig(dir: string): string;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** An object as the fake stores it. */
interface FakeObject {
  readonly kind?: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
}

/** A command of the harness. */
export type ApiServerCommand =
  | { readonly op: 'apply'; readonly yaml: string }
  | { readonly op: 'down' }
  | { readonly op: 'up' };

function apply(api: FakeApiServer, yaml: string): void {
  for (const doc of parseAllDocuments(yaml)) {
    const object = doc.toJS() as FakeObject | null;
    if (object === null) continue;
    if (object.kind === 'Service') api.upsert('services', object);
    else if (object.kind === 'EndpointSlice') api.upsert('endpointslices', object);
    else throw new Error(`Cannot apply a ${String(object.kind)}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' } } });
  const { FakeApiServer: Fake } = (await import(FAKE_APISERVER)) as {
    FakeApiServer: { start(): Promise<FakeApiServer> };
  };
  const api = await Fake.start();
  api.writeKubeconfig(values.dir ?? '.');
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    try {
      const command = JSON.parse(line) as ApiServerCommand;
      if (command.op === 'apply') apply(api, command.yaml);
      else if (command.op === 'down') await api.down();
      else await api.up();
      process.stdout.write('ok\n');
    } catch (error) {
      process.stdout.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  await api.close();
  process.exit(0);
}

if (isMainModule(import.meta.url)) await main();
