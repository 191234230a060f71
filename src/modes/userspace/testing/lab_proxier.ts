/**
 * The host side of lab_driver.ts: starts the userspace mode's Proxier (and with it the relay) in a process
 * of its own inside a lab's node namespace, and talks to it (sync, stats, cleanup, stop). The mode's kernel
 * tests and the relay bench (bench/userspace-relay.ts) both drive the mode through it.
 *
 * @module
 */
import { createInterface } from 'node:readline';
import type { PlanOptions } from '../../../contracts/plan_options.ts';
import type { Lab, LabProcess } from '../../../lab/lab.ts';
import { LabError } from '../../../lab/lab_error.ts';
import type { IPFamily, ServicePortState } from '../../../model/types.ts';
import type { UserspaceStats } from '../index.ts';
import type { DriverReply, DriverRequest } from './lab_driver.ts';

const DRIVER = new URL('./lab_driver.ts', import.meta.url).href;
/** How long one request may take (a sync opens every listener and applies the portal rules). */
const REQUEST_TIMEOUT_MS = 15_000;

/** A Proxier running in a lab's node namespace. */
export interface LabProxier {
  /** The driver's process id (the relay runs in it: its CPU time is the relay's). */
  readonly pid: number | undefined;
  /** Serves exactly these service ports. */
  sync(servicePorts: readonly ServicePortState[]): Promise<DriverReply>;
  /** The relay's stats (of one family's Proxier when the driver runs both; IPv4 by default). */
  stats(family?: IPFamily): Promise<UserspaceStats>;
  /** Removes the portal rules (the mode's cleanup, as `kproxy cleanup` runs it). */
  cleanup(): Promise<void>;
  /** Stops the Proxier (its portal rules go with it) and ends the process. */
  stop(): Promise<void>;
}

/**
 * Starts the driver in the lab's node namespace.
 *
 * @param lab the lab
 * @param options plan options (node IPs, relay engine, portals on or off)
 * @param families when given, one Proxier per family side by side, each with its family's view of the
 *   state (as the daemon runs them); else one Proxier of `options.ipFamily`, synced with the state as it is
 * @returns the handle
 * @throws {LabError} from a request, when the driver fails it or does not answer in time
 * @example const proxier = startLabProxier(lab, planOptions({ nodeIPs: [lab.node.ip, lab.node.ip6] }), ['IPv4', 'IPv6'])
 */
export function startLabProxier(lab: Lab, options: PlanOptions, families?: readonly IPFamily[]): LabProxier {
  const args = [JSON.stringify(options), ...(families === undefined ? [] : [JSON.stringify(families)])];
  const proc: LabProcess = lab.spawnNode(lab.node.ns, DRIVER, args);
  const lines = createInterface({ input: proc.child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  let stderr = '';
  proc.child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const request = (req: DriverRequest): Promise<DriverReply> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new LabError(`The lab driver did not answer ${req.op}: ${stderr}`)),
        REQUEST_TIMEOUT_MS,
      );
      waiting.push((line) => {
        clearTimeout(timer);
        const reply = JSON.parse(line) as DriverReply;
        if (reply.ok) resolve(reply);
        else reject(new LabError(`The lab driver failed ${req.op}: ${reply.error}`));
      });
      proc.child.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  return {
    pid: proc.child.pid,
    sync: (servicePorts) => request({ op: 'sync', servicePorts }),
    stats: async (family) => (await request({ op: 'stats', family })).stats!,
    cleanup: async () => {
      await request({ op: 'cleanup' });
    },
    stop: async () => {
      await request({ op: 'stop' }).catch(() => undefined);
      await proc.kill();
    },
  };
}
