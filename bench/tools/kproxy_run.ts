/**
 * `kproxy run` as the benchmark drives it: started inside the lab's node namespace on a manifest
 * directory by the lab's launcher (src/lab/kproxy_daemon.ts), with JSON logs on stderr, so that the
 * daemon's own sync reports are the readiness signal and its timings.
 *
 * @module
 */
import { type IptablesBackend, isProxyMode, type ProxyMode } from '../../src/contracts/proxy_mode.ts';
import { type KproxyProcess, spawnKproxy } from '../../src/lab/kproxy_daemon.ts';
import type { Lab } from '../../src/lab/lab.ts';
import { BenchError } from './bench_error.ts';

/** Where the daemon serves /metrics, inside its namespace (kproxy_metrics.ts reads its syncs there). */
export const KPROXY_METRICS_ADDRESS = '127.0.0.1:10249';

/**
 * Narrows a mode the benchmark measures to one `kproxy run --proxy-mode` accepts.
 *
 * @param mode a results file's mode name
 * @returns the same name, as a {@link ProxyMode}
 * @throws {BenchError} when this kproxy has no such mode
 * @example kproxyMode('nftables') // 'nftables', once src/contracts/proxy_mode.ts has it
 */
export function kproxyMode(mode: string): ProxyMode {
  if (!isProxyMode(mode)) {
    throw new BenchError(`kproxy has no --proxy-mode ${mode} (src/contracts/proxy_mode.ts)`);
  }
  return mode;
}

/** How to run kproxy. */
export interface KproxyRunOptions {
  /** The command prefix that starts kproxy (see kproxy_build.ts), e.g. `[node, .cache/bench-build/bin.js]`. */
  readonly command: readonly string[];
  readonly mode: ProxyMode;
  readonly manifests: string;
  /** The node's address (NodePort and hairpin rules). */
  readonly nodeIp: string;
  readonly iptablesBackend: IptablesBackend;
}

/**
 * kproxy's arguments for the benchmark: JSON logs, fast reaction to changes (100 ms minimum sync period),
 * no periodic full resync during a measurement (1 h), and health/metrics servers on the namespace's own
 * loopback.
 *
 * @param options mode, manifests, node IP, iptables backend
 * @returns the arguments after the command prefix
 * @example kproxyRunArgs({ mode: 'iptables', manifests: '/tmp/m', nodeIp: '198.18.0.1', iptablesBackend: 'legacy' })
 */
export function kproxyRunArgs(options: Omit<KproxyRunOptions, 'command'>): string[] {
  return [
    'run',
    '--proxy-mode',
    options.mode,
    '--manifests',
    options.manifests,
    '--hostname-override',
    'bench-node',
    '--node-ip',
    options.nodeIp,
    '--iptables-backend',
    options.iptablesBackend,
    '--log-format',
    'json',
    '--iptables-min-sync-period',
    '100ms',
    '--iptables-sync-period',
    '1h',
    '--ipvs-min-sync-period',
    '100ms',
    '--ipvs-sync-period',
    '1h',
    '--healthz-bind-address',
    '127.0.0.1:10256',
    '--metrics-bind-address',
    KPROXY_METRICS_ADDRESS,
    // The lab's node is a network namespace, where the host-wide nf_conntrack_max is read-only (as kind).
    '--conntrack-max-per-core=0',
  ];
}

/**
 * Starts `kproxy run` inside a lab namespace.
 *
 * @param lab the lab
 * @param ns its node namespace
 * @param options command, mode, manifests, node IP, backend
 * @returns the running process (its syncs, memory and stop)
 * @example const kproxy = startKproxy(lab, lab.node.ns, { command, mode: 'iptables', manifests, nodeIp: lab.node.ip, iptablesBackend: 'legacy' })
 */
export function startKproxy(lab: Lab, ns: string, options: KproxyRunOptions): KproxyProcess {
  return spawnKproxy(lab, ns, kproxyRunArgs(options), { command: options.command });
}
