/**
 * The test side of lab_driver.ts: starts a userspace Proxier inside a lab's node namespace and talks to
 * it (sync, stats, cleanup, stop).
 *
 * @module
 */
import { createInterface } from 'node:readline';
import type { PlanOptions } from '../../../contracts/plan_options.ts';
import type { Lab, LabProcess } from '../../../lab/lab.ts';
import type { ServicePortState } from '../../../model/types.ts';
import type { UserspaceStats } from '../proxier.ts';
import type { DriverRequest } from './lab_driver.ts';

/** A reply of the driver. */
export interface DriverReply {
  readonly ok: boolean;
  readonly error?: string;
  readonly stats?: UserspaceStats;
  readonly report?: unknown;
}

/** A Proxier running in a lab's node namespace. */
export interface LabProxier {
  /** The driver's process id (the relay runs in it). */
  readonly pid: number | undefined;
  sync(servicePorts: readonly ServicePortState[]): Promise<DriverReply>;
  stats(): Promise<UserspaceStats>;
  cleanup(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the driver in the lab's node namespace.
 *
 * @param lab the lab
 * @param options plan options (node IPs default to the lab node's)
 * @returns the handle
 * @example const proxier = await startLabProxier(lab, planOptions({ nodeIPs: [lab.node.ip] }))
 */
export function startLabProxier(lab: Lab, options: PlanOptions): LabProxier {
  const args = [JSON.stringify(options)];
  const proc: LabProcess = lab.spawnNode(lab.node.ns, new URL('./lab_driver.ts', import.meta.url).href, args);
  const lines = createInterface({ input: proc.child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  let stderr = '';
  proc.child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const request = (req: DriverRequest): Promise<DriverReply> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Driver did not answer ${req.op}: ${stderr}`)), 15_000);
      waiting.push((line) => {
        clearTimeout(timer);
        const reply = JSON.parse(line) as DriverReply;
        if (reply.ok) resolve(reply);
        else reject(new Error(`Driver ${req.op} failed: ${reply.error}`));
      });
      proc.child.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  return {
    pid: proc.child.pid,
    sync: (servicePorts) => request({ op: 'sync', servicePorts }),
    stats: async () => (await request({ op: 'stats' })).stats!,
    cleanup: async () => {
      await request({ op: 'cleanup' });
    },
    stop: async () => {
      await request({ op: 'stop' }).catch(() => undefined);
      await proc.kill();
    },
  };
}
