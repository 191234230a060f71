/**
 * The userspace mode's Proxier in a process of its own, for the relay's bench (bench/userspace-relay.ts):
 * started inside the lab's node namespace (Node cannot enter a namespace itself), it reads one JSON request
 * per stdin line and answers one JSON line on stdout:
 * `{"op":"sync","servicePorts":[ServicePortState...]}` → `{"ok":true,"report":...,"stats":...}`;
 * `{"op":"stats"}`; `{"op":"stop"}` (then exits). argv[2] is the PlanOptions as JSON. The relay runs as
 * the daemon runs it, with its counters on the hot path.
 *
 * @example node userspace_relay_driver.ts '{"nodeName":"node-a","nodeIPs":["198.18.0.1"],...}'
 * @module
 */
import { createInterface } from 'node:readline';
import type { PlanOptions } from '../../src/contracts/plan_options.ts';
import { createExec } from '../../src/kernel/exec.ts';
import { isMainModule } from '../../src/lab/node_child.ts';
import { createLogger } from '../../src/log.ts';
import { ProxyMetrics } from '../../src/metrics/proxy_metrics.ts';
import type { ServicePortState, StateChange } from '../../src/model/types.ts';
import { createUserspaceProxier, type UserspaceStats } from '../../src/modes/userspace/index.ts';

/** One request to the driver. */
export type RelayDriverRequest =
  | { readonly op: 'sync'; readonly servicePorts: readonly ServicePortState[] }
  | { readonly op: 'stats' }
  | { readonly op: 'stop' };

/** One answer of the driver. */
export interface RelayDriverReply {
  readonly ok: boolean;
  readonly error?: string;
  readonly stats?: UserspaceStats;
  readonly report?: unknown;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as PlanOptions;
  const proxier = createUserspaceProxier({
    options,
    exec: createExec(),
    logger: createLogger({ format: 'json', level: 'warn' }),
    iptablesBackend: 'auto',
    metrics: new ProxyMetrics({ mode: 'userspace' }),
  });
  let version = 0;
  const reply = (value: RelayDriverReply): void => {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  };
  for await (const line of createInterface({ input: process.stdin })) {
    const request = JSON.parse(line) as RelayDriverRequest;
    try {
      switch (request.op) {
        case 'sync': {
          version++;
          const servicePorts = new Map(request.servicePorts.map((sp) => [sp.key, sp]));
          // Every port is new to the relay at each sync: the bench syncs once per visit.
          const change: StateChange = {
            changed: new Set(servicePorts.keys()),
            removed: new Set(),
            firstSeen: new Map(),
            serviceEvents: 0,
            endpointEvents: 0,
          };
          const report = await proxier.sync({ version, nodeName: options.nodeName, servicePorts }, change);
          reply({ ok: true, report, stats: proxier.stats() });
          break;
        }
        case 'stats':
          reply({ ok: true, stats: proxier.stats() });
          break;
        case 'stop':
          await proxier.stop();
          reply({ ok: true });
          process.exit(0);
          break;
        default: {
          const never: never = request;
          throw new Error(`Unknown driver request: ${JSON.stringify(never)}`);
        }
      }
    } catch (error) {
      reply({ ok: false, error: String(error) });
    }
  }
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
