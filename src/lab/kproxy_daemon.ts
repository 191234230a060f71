/**
 * Starts the real `kproxy` command inside a lab namespace, as the end-to-end tests and the benchmarks
 * drive it: keeps everything it prints, follows the daemon's own sync reports in its JSON log (the
 * readiness signal: no sleeps), reads its memory, and stops it the way an operator would.
 *
 * @module
 */
import { type LoggedSync, parseSyncLine } from './kproxy_log.ts';
import type { Lab, LabProcess } from './lab.ts';
import { LabError } from './lab_error.ts';
import { nodeModuleArgv } from './node_child.ts';
import { type ProcessMemory, readProcessMemory } from './process_memory.ts';

/** The argv prefix that runs kproxy from the sources (through tsx), also for one-shot commands through `lab.exec`. */
export const KPROXY_ARGV: readonly string[] = nodeModuleArgv(new URL('../bin.ts', import.meta.url).href, []);

/** How long {@link KproxyProcess.stop} waits after SIGTERM before it kills. */
const STOP_GRACE_MS = 5000;
/** How many of the last log lines (other than sync reports) an error message quotes, and how much of each. */
const TAIL_LINES = 10;
const TAIL_LINE_CHARS = 500;

/** How to start kproxy. */
export interface SpawnKproxyOptions {
  /**
   * The command prefix that starts kproxy, e.g. `[node, .cache/bench-build/bin.js]` for a compiled build
   * (default {@link KPROXY_ARGV}: the sources through tsx).
   */
  readonly command?: readonly string[] | undefined;
  /** Extra environment (e.g. a PATH with fault-injecting wrappers first). */
  readonly env?: Readonly<Record<string, string>> | undefined;
}

/** A kproxy process in a lab namespace. */
export interface KproxyProcess extends LabProcess {
  /** Everything it printed so far (stdout and stderr, interleaved as received). */
  output(): string;
  /** Every sync it reported so far (`--log-format json` only), in order. */
  readonly syncs: readonly LoggedSync[];
  /**
   * Waits for a reported sync that matches, counting from sync number `from` (0-based; default: the
   * next one).
   *
   * @throws {LabError} when kproxy exits or nothing matches within `timeoutMs` (with its last log lines)
   */
  waitForSync(
    predicate: (sync: LoggedSync) => boolean,
    options: { readonly timeoutMs: number; readonly from?: number | undefined },
  ): Promise<LoggedSync>;
  /** Its resident and peak resident memory now. */
  memory(): Promise<ProcessMemory>;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it is gone. */
  stop(): Promise<void>;
}

/**
 * The full argument vector of {@link spawnKproxy}: the environment (through `env`), the command prefix,
 * kproxy's arguments.
 *
 * @param args kproxy's arguments
 * @param options command prefix and extra environment
 * @returns argv for `lab.spawn`
 * @example kproxyArgv(['run', '--manifests', dir], { env: { PATH: '/tmp/wrap:/usr/bin' } })
 */
export function kproxyArgv(args: readonly string[], options: SpawnKproxyOptions = {}): string[] {
  const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
  // A lab's node is a network namespace: the host-wide nf_conntrack_max is read-only there, so `run` leaves
  // it alone (as kind runs kube-proxy), unless the test says otherwise.
  const tuned =
    args[0] === 'run' && !args.some((a) => a.startsWith('--conntrack-max-per-core'))
      ? ['run', '--conntrack-max-per-core=0', ...args.slice(1)]
      : args;
  return [...(env.length > 0 ? ['env', ...env] : []), ...(options.command ?? KPROXY_ARGV), ...tuned];
}

/**
 * Runs `kproxy ARGS...` in a namespace of the lab (killed by `lab.destroy()` at the latest).
 *
 * @param lab the lab
 * @param ns one of its namespaces (usually `lab.node.ns`)
 * @param args kproxy's arguments, e.g. `['run', '--proxy-mode', 'iptables', '--manifests', dir]`
 * @param options command prefix and extra environment
 * @returns the process, with its output and its reported syncs
 * @example const daemon = spawnKproxy(lab, lab.node.ns, ['run', '--proxy-mode', 'userspace', '--manifests', dir])
 */
export function spawnKproxy(
  lab: Lab,
  ns: string,
  args: readonly string[],
  options: SpawnKproxyOptions = {},
): KproxyProcess {
  const proc = lab.spawn(ns, kproxyArgv(args, options));
  const log = followLog(proc);
  const pid = proc.child.pid ?? -1;
  return {
    ...proc,
    output: () => log.output,
    syncs: log.syncs,
    waitForSync: (predicate, { timeoutMs, from }) =>
      new Promise<LoggedSync>((resolve, reject) => {
        const start = from ?? log.syncs.length;
        const tail = () => log.tail.join(' | ');
        const check = () => {
          const found = log.syncs.slice(start).find(predicate);
          if (found !== undefined) finish(() => resolve(found));
          else if (log.exit !== undefined)
            finish(() =>
              reject(new LabError(`kproxy exited (${log.exit}) before the expected sync: ${tail()}`)),
            );
        };
        const timer = setTimeout(() => {
          const so = `${log.syncs.length} syncs so far`;
          const message = `kproxy did not report the expected sync within ${timeoutMs} ms (${so}): ${tail()}`;
          finish(() => reject(new LabError(message)));
        }, timeoutMs);
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          log.waiters.delete(check);
          settle();
        };
        log.waiters.add(check);
        check();
      }),
    memory: () => readProcessMemory(pid),
    async stop() {
      if (log.exit !== undefined) return;
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => void proc.kill(), STOP_GRACE_MS);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

/** What {@link followLog} has read of a process so far. */
interface FollowedLog {
  output: string;
  readonly syncs: LoggedSync[];
  /** The last lines other than sync reports, for error messages. */
  tail: string[];
  exit: number | string | undefined;
  /** Called after every chunk of output and at exit. */
  readonly waiters: Set<() => void>;
}

/** Reads a process's stdout and stderr line by line: the whole output, the sync reports, the tail. */
function followLog(proc: LabProcess): FollowedLog {
  const log: FollowedLog = { output: '', syncs: [], tail: [], exit: undefined, waiters: new Set() };
  for (const stream of [proc.child.stdout, proc.child.stderr]) {
    let pending = '';
    stream?.on('data', (b: Buffer) => {
      const text = b.toString('utf8');
      log.output += text;
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const sync = parseSyncLine(line);
        if (sync !== undefined) log.syncs.push(sync);
        else if (line.trim() !== '')
          log.tail = [...log.tail.slice(-(TAIL_LINES - 1)), line.slice(0, TAIL_LINE_CHARS)];
      }
      for (const wake of log.waiters) wake();
    });
  }
  void proc.exited.then((code) => {
    log.exit = code;
    for (const wake of log.waiters) wake();
  });
  return log;
}
