/**
 * The host side of userspace_relay_driver.ts: starts kproxy's userspace relay (the mode's Proxier) in a
 * process of its own inside the lab's node namespace, and talks to it (sync, stats, stop).
 *
 * @module
 */
import { createInterface } from 'node:readline';
import type { PlanOptions } from '../../src/contracts/plan_options.ts';
import type { Lab } from '../../src/lab/lab.ts';
import type { ServicePortState } from '../../src/model/types.ts';
import type { UserspaceStats } from '../../src/modes/userspace/index.ts';
import { BenchError } from './bench_error.ts';
import type { RelayDriverReply, RelayDriverRequest } from './userspace_relay_driver.ts';

const DRIVER = new URL('./userspace_relay_driver.ts', import.meta.url).href;
/** How long one request may take (a sync opens every listener and applies the portal rules). */
const REQUEST_TIMEOUT_MS = 15_000;

/** kproxy's userspace relay, running in a lab's node namespace. */
export interface UserspaceRelay {
  /** The driver's process id (the relay runs in it: its CPU time is the relay's). */
  readonly pid: number | undefined;
  /** Serves exactly these service ports. */
  sync(servicePorts: readonly ServicePortState[]): Promise<RelayDriverReply>;
  stats(): Promise<UserspaceStats>;
  /** Stops the relay (its portal rules go with it) and ends the process. */
  stop(): Promise<void>;
}

/**
 * Starts the relay in the lab's node namespace.
 *
 * @param lab the lab
 * @param options plan options (node IPs, relay engine, portals on or off)
 * @returns the handle
 * @throws {BenchError} from a request, when the driver fails it or does not answer in time
 * @example const relay = startUserspaceRelay(lab, benchPlanOptions({ nodeName: 'node-a', nodeIPs: [lab.node.ip] }))
 */
export function startUserspaceRelay(lab: Lab, options: PlanOptions): UserspaceRelay {
  const proc = lab.spawnNode(lab.node.ns, DRIVER, [JSON.stringify(options)]);
  const lines = createInterface({ input: proc.child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  let stderr = '';
  proc.child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const request = (req: RelayDriverRequest): Promise<RelayDriverReply> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new BenchError(`The relay driver did not answer ${req.op}: ${stderr}`)),
        REQUEST_TIMEOUT_MS,
      );
      waiting.push((line) => {
        clearTimeout(timer);
        const reply = JSON.parse(line) as RelayDriverReply;
        if (reply.ok) resolve(reply);
        else reject(new BenchError(`The relay driver failed ${req.op}: ${reply.error}`));
      });
      proc.child.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  return {
    pid: proc.child.pid,
    sync: (servicePorts) => request({ op: 'sync', servicePorts }),
    stats: async () => (await request({ op: 'stats' })).stats!,
    stop: async () => {
      await request({ op: 'stop' }).catch(() => undefined);
      await proc.kill();
    },
  };
}
