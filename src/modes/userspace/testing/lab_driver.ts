/**
 * Runs the userspace mode's Proxier in a process of its own, for the mode's kernel tests and the relay
 * bench (bench/userspace-relay.ts): started inside a lab's node namespace (Node cannot enter a namespace
 * itself), it reads one JSON request per stdin line and answers one JSON line on stdout:
 * `{"op":"sync","servicePorts":[ServicePortState...]}` → `{"ok":true,"report":...,"stats":...}`;
 * `{"op":"stats","family":"IPv6"}`; `{"op":"cleanup"}` (removes the portal rules of both families);
 * `{"op":"stop"}` (then exits). argv[2] is the PlanOptions as JSON; argv[3], when given, the IP families as
 * JSON (`["IPv4","IPv6"]`): then one Proxier per family runs side by side in this process, as the daemon
 * runs them (DualStackProxier, each with its family's view of the state), and `stats` names the family
 * (IPv4 when it does not). Without it, one Proxier of the options' family is synced with the state as it is.
 *
 * It reaches the mode only through its public seam (index.ts), as the daemon does, so that the benchmarks
 * may run it too, and the relay runs as the daemon runs it, with its counters on the hot path.
 *
 * @example node lab_driver.ts '{"nodeName":"node-a","nodeIPs":["198.18.0.1"],...}'
 * @module
 */
import { createInterface } from 'node:readline';
import type { PlanOptions } from '../../../contracts/plan_options.ts';
import { createExec } from '../../../kernel/exec.ts';
import { isMainModule } from '../../../lab/node_child.ts';
import { createLogger } from '../../../log.ts';
import { ProxyMetrics } from '../../../metrics/proxy_metrics.ts';
import type { IPFamily, ServicePortState, StateChange } from '../../../model/types.ts';
import { DualStackProxier } from '../../dual_stack.ts';
import type { Proxier, ProxierDeps } from '../../mode.ts';
import {
  createUserspaceProxier,
  type UserspaceProxier,
  type UserspaceStats,
  userspaceMode,
} from '../index.ts';

/** One request to the driver. */
export type DriverRequest =
  | { readonly op: 'sync'; readonly servicePorts: readonly ServicePortState[] }
  | { readonly op: 'stats'; readonly family?: IPFamily | undefined }
  | { readonly op: 'cleanup' }
  | { readonly op: 'stop' };

/** One answer of the driver. */
export interface DriverReply {
  readonly ok: boolean;
  readonly error?: string;
  readonly stats?: UserspaceStats;
  readonly report?: unknown;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as PlanOptions;
  const deps: ProxierDeps = {
    options,
    exec: createExec(),
    logger: createLogger({ format: 'json', level: process.env['KPROXY_DRIVER_LOG'] ?? 'warn' }),
    iptablesBackend: 'auto',
    // As the daemon runs it: the relay's counters on the hot path (benchmarks measure them too).
    metrics: new ProxyMetrics({ mode: 'userspace' }),
  };
  const families = process.argv[3] === undefined ? undefined : (JSON.parse(process.argv[3]) as IPFamily[]);
  const dual = families === undefined ? undefined : new DualStackProxier(userspaceMode, deps, families);
  const proxier: Proxier = dual ?? createUserspaceProxier(deps);
  const statsOf = (family: IPFamily | undefined): UserspaceStats => {
    const one = dual === undefined ? proxier : dual.proxierOf(family ?? 'IPv4');
    if (one === undefined) throw new Error(`No ${family} Proxier runs`);
    return (one as UserspaceProxier).stats();
  };
  let version = 0;
  const reply = (value: DriverReply): void => {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  };
  for await (const line of createInterface({ input: process.stdin })) {
    const request = JSON.parse(line) as DriverRequest;
    try {
      switch (request.op) {
        case 'sync': {
          version++;
          const servicePorts = new Map(request.servicePorts.map((sp) => [sp.key, sp]));
          // Every request carries the whole state: every port counts as changed.
          const change: StateChange = {
            changed: new Set(servicePorts.keys()),
            removed: new Set(),
            firstSeen: new Map(),
            serviceEvents: 0,
            endpointEvents: 0,
          };
          const report = await proxier.sync({ version, nodeName: options.nodeName, servicePorts }, change);
          reply({ ok: true, report, stats: statsOf(undefined) });
          break;
        }
        case 'stats':
          reply({ ok: true, stats: statsOf(request.family) });
          break;
        case 'cleanup':
          await userspaceMode.cleanup(deps);
          reply({ ok: true });
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
