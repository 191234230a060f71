/**
 * `kproxy run` as the benchmark drives it: started inside the lab's node namespace on a manifest
 * directory, with JSON logs on stderr. The daemon's own "Synced proxy rules" log line is the readiness
 * signal (it says how many service ports the sync covered, what kind of sync it was and how long it took),
 * so the benchmark never guesses with sleeps.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { IptablesBackend, ProxyMode } from '../../src/contracts/proxy_mode.ts';
import type { Lab, LabProcess } from '../../src/lab/lab.ts';
import { BenchError } from './bench_error.ts';

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

/** One "Synced proxy rules" log line. */
export interface SyncLine {
  readonly kind: 'full' | 'partial';
  readonly durationMs: number;
  readonly servicePorts: number;
  readonly written: number;
  readonly restoreLines: number;
}

/**
 * The argument vector of `kproxy run` for the benchmark: JSON logs, fast reaction to changes (100 ms
 * minimum sync period), no periodic full resync during a measurement (1 h), and health/metrics servers
 * on the namespace's own loopback.
 *
 * @param options command, mode, manifests, node IP, iptables backend
 * @returns argv, starting with the command prefix
 * @example kproxyRunArgv({ command: ['node', 'bin.js'], mode: 'iptables', manifests: '/tmp/m', nodeIp: '198.18.0.1', iptablesBackend: 'legacy' })
 */
export function kproxyRunArgv(options: KproxyRunOptions): string[] {
  return [
    ...options.command,
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
    '127.0.0.1:10249',
  ];
}

/**
 * Reads a "Synced proxy rules" line of kproxy's JSON log.
 *
 * @param line one log line
 * @returns the sync, or undefined for any other line
 * @example parseSyncLine('{"msg":"Synced proxy rules","kind":"full","durationMs":12,"servicePorts":2,"written":2,"restoreLines":40}')
 */
export function parseSyncLine(line: string): SyncLine | undefined {
  if (!line.includes('Synced proxy rules')) return undefined;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (entry['msg'] !== 'Synced proxy rules') return undefined;
  const num = (key: string) => (typeof entry[key] === 'number' ? (entry[key] as number) : 0);
  return {
    kind: entry['kind'] === 'partial' ? 'partial' : 'full',
    durationMs: num('durationMs'),
    servicePorts: num('servicePorts'),
    written: num('written'),
    restoreLines: num('restoreLines'),
  };
}

/** Resident memory of a process, from /proc/PID/status. */
export interface ProcessMemory {
  readonly rssKb: number;
  /** The peak resident set (VmHWM). */
  readonly peakRssKb: number;
}

/**
 * Reads VmRSS and VmHWM from a /proc/PID/status text.
 *
 * @param text the status file
 * @returns the two figures in kB (0 when absent)
 * @example parseProcStatus('VmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n') // { rssKb: 1024, peakRssKb: 2048 }
 */
export function parseProcStatus(text: string): ProcessMemory {
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: kb('VmRSS'), peakRssKb: kb('VmHWM') };
}

/** A running kproxy. */
export interface KproxyProcess {
  readonly pid: number;
  /** Every sync so far, in order. */
  readonly syncs: readonly SyncLine[];
  /**
   * Waits for a sync, counting from sync number `from` (0-based; default: the next one).
   *
   * @throws {BenchError} when kproxy exits or nothing matches within `timeoutMs`
   */
  waitForSync(
    predicate: (sync: SyncLine) => boolean,
    options: { readonly timeoutMs: number; readonly from?: number | undefined },
  ): Promise<SyncLine>;
  memory(): Promise<ProcessMemory>;
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/**
 * Starts `kproxy run` inside a lab namespace.
 *
 * @param lab the lab
 * @param ns its node namespace
 * @param options mode, manifests, node IP, backend
 * @returns the running process
 */
export function startKproxy(lab: Lab, ns: string, options: KproxyRunOptions): KproxyProcess {
  const proc: LabProcess = lab.spawn(ns, kproxyRunArgv(options));
  const syncs: SyncLine[] = [];
  const waiters = new Set<() => void>();
  let tail: string[] = [];
  let pending = '';
  proc.child.stdout?.resume();
  proc.child.stderr?.on('data', (b: Buffer) => {
    pending += b.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const sync = parseSyncLine(line);
      if (sync !== undefined) syncs.push(sync);
      else if (line.trim() !== '') tail = [...tail.slice(-9), line.slice(0, 500)];
    }
    for (const wake of waiters) wake();
  });
  let exit: number | string | undefined;
  void proc.exited.then((code) => {
    exit = code;
    for (const wake of waiters) wake();
  });
  const pid = proc.child.pid ?? -1;
  return {
    pid,
    syncs,
    waitForSync(predicate, { timeoutMs, from }) {
      const start = from ?? syncs.length;
      return new Promise<SyncLine>((resolve, reject) => {
        const check = () => {
          const found = syncs.slice(start).find(predicate);
          if (found !== undefined) finish(() => resolve(found));
          else if (exit !== undefined)
            finish(() =>
              reject(new BenchError(`kproxy exited (${exit}) before the expected sync: ${tail.join(' | ')}`)),
            );
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              reject(
                new BenchError(
                  `kproxy did not report the expected sync within ${timeoutMs} ms (${syncs.length} syncs so far): ${tail.join(' | ')}`,
                ),
              ),
            ),
          timeoutMs,
        );
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async memory() {
      return parseProcStatus(await readFile(`/proc/${pid}/status`, 'utf8'));
    },
    async stop() {
      if (exit !== undefined) return;
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => void proc.kill(), 5000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}
