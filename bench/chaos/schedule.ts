/**
 * What a chaos run does, as plain data: the command line (`npm run chaos -- [--quick] [--modes a,b]
 * [--faults x,y]`), the catalogue of faults with what each one does, which modes each applies to, and the
 * schedule of one fault × mode run (warm-up, the fault's own phases, the settling time afterwards).
 * Everything here is bounded: every phase has a fixed length, and the whole run's length follows from it.
 *
 * @module
 */

import { parseArgs } from 'node:util';
import { KproxyError } from '../../src/contracts/errors.ts';

/** The modes the chaos lab knows. */
export const CHAOS_MODES = ['userspace', 'iptables', 'nftables', 'ipvs'] as const;
export type ChaosMode = (typeof CHAOS_MODES)[number];

/** The faults, in the order a run injects them. */
export const FAULTS = [
  'kill9',
  'sigterm',
  'rolling-update',
  'backend-dies',
  'flush-rules',
  'wipe-table',
  'xtables-lock',
  'api-outage',
  'endpoint-churn',
  'fuzz-manifests',
] as const;
export type FaultName = (typeof FAULTS)[number];

/** One fault of the catalogue. */
export interface FaultInfo {
  readonly name: FaultName;
  /** One line for the report's table. */
  readonly title: string;
  /** What the harness does, for the report. */
  readonly what: string;
  /** Modes where the fault means nothing, with why. */
  readonly notApplicable: Partial<Readonly<Record<ChaosMode, string>>>;
}

/** The catalogue. */
export const FAULT_INFO: Readonly<Record<FaultName, FaultInfo>> = {
  kill9: {
    name: 'kill9',
    title: 'kill -9 and restart',
    what: 'SIGKILL to kproxy, then a new kproxy at once (same flags, same manifests); it counts as back at its first sync.',
    notApplicable: {},
  },
  sigterm: {
    name: 'sigterm',
    title: 'SIGTERM and restart',
    what: 'SIGTERM to kproxy (a graceful stop, SIGKILL after 5 s), then a new kproxy at once.',
    notApplicable: {},
  },
  'rolling-update': {
    name: 'rolling-update',
    title: 'rolling update',
    what: "pod0's endpoint goes ready → terminating (serving) → removed from the EndpointSlice, one step per phase, then pod0's server is killed.",
    notApplicable: {},
  },
  'backend-dies': {
    name: 'backend-dies',
    title: 'backend dies, no endpoint update',
    what: "pod2's server is killed and its endpoint stays ready in the EndpointSlice for one phase; then the server comes back.",
    notApplicable: {},
  },
  'flush-rules': {
    name: 'flush-rules',
    title: "kproxy's rules flushed",
    what: "behind kproxy's back: `iptables -t nat -F KUBE-SERVICES` (userspace: `-F KUBE-PORTALS-CONTAINER`), nftables: `nft flush chain ip kube-proxy services`, ipvs: `ip addr flush dev kube-ipvs0` (its service addresses: KUBE-SERVICES holds only masquerade marks there, which this client does not need).",
    notApplicable: {},
  },
  'wipe-table': {
    name: 'wipe-table',
    title: 'whole table wiped',
    what: "behind kproxy's back: the whole nat table emptied in one commit (`iptables-restore` of `*nat COMMIT`: every chain flushed, every user chain deleted, as `iptables -t nat -F; iptables -t nat -X`); nftables: `nft delete table ip kube-proxy`; ipvs: `ipvsadm --clear` (every virtual server).",
    notApplicable: {},
  },
  'xtables-lock': {
    name: 'xtables-lock',
    title: 'xtables lock held during a sync',
    what: "another program holds /run/xtables.lock (flock) for one phase while an endpoint change asks for a sync; kproxy runs with --iptables-backend legacy (iptables-nft takes no lock) in a private mount namespace whose /run is a tmpfs, so the host's own lock is never touched.",
    notApplicable: { nftables: 'nft takes no xtables lock' },
  },
  'api-outage': {
    name: 'api-outage',
    title: 'API server gone, back with changes',
    what: 'kproxy watches a wire-protocol API server; it goes away (connections refused) for one phase, during which pod0 is removed from the EndpointSlice; then it comes back.',
    notApplicable: {},
  },
  'endpoint-churn': {
    name: 'endpoint-churn',
    title: '10k endpoint changes/min',
    what: '20 other services get 34 endpoint changes every 200 ms (about 10,200 a minute, files replaced atomically) for one phase, while the probed service must keep working.',
    notApplicable: {},
  },
  'fuzz-manifests': {
    name: 'fuzz-manifests',
    title: 'fuzzed manifests',
    what: 'every 250 ms a manifest file is rewritten with generated clusters (src/model/testing/arbitraries.ts), half of their objects mutated into invalid ones, one file in five not YAML at all, for one phase.',
    notApplicable: {},
  },
};

/** The length of each phase of a run (ms). */
export interface PhaseTimes {
  /** Steady traffic before the fault. */
  readonly warmupMs: number;
  /** The fault's own phase (how long a lock is held, an API server away, churn goes on, ...). */
  readonly faultMs: number;
  /** Steady traffic after the fault ended. */
  readonly settleMs: number;
}

/**
 * The schedule of one run of a fault.
 *
 * @param fault the fault
 * @param quick the short phases of `--quick`
 * @returns the phase lengths
 * @example phaseTimes('api-outage', false).faultMs // 30000
 */
export function phaseTimes(fault: FaultName, quick: boolean): PhaseTimes {
  const long: Record<FaultName, number> = {
    kill9: 0,
    sigterm: 0,
    'rolling-update': 2000,
    'backend-dies': 5000,
    'flush-rules': 0,
    'wipe-table': 0,
    'xtables-lock': 6000,
    'api-outage': 30_000,
    'endpoint-churn': 60_000,
    'fuzz-manifests': 30_000,
  };
  const tamper = fault === 'flush-rules' || fault === 'wipe-table';
  if (quick) {
    return { warmupMs: 1000, faultMs: Math.min(long[fault], 8000), settleMs: tamper ? 6000 : 3000 };
  }
  // After an API outage the client retries with backoff (up to 30 s between attempts, as client-go):
  // settle long enough to see the change it comes back with arrive.
  const settleMs = fault === 'api-outage' ? 45_000 : tamper ? 15_000 : 10_000;
  return { warmupMs: 3000, faultMs: long[fault], settleMs };
}

/** The command line of `npm run chaos`. */
export interface ChaosOptions {
  readonly quick: boolean;
  readonly modes: readonly ChaosMode[];
  readonly faults: readonly FaultName[];
  /** `--iptables-sync-period` kproxy runs with (ms). */
  readonly syncPeriodMs: number;
  /** Where docs/reliability.md and .json go (a directory). */
  readonly outDir: string;
  /** Keep the earlier report's runs of other faults and modes (`--merge`), so a run can be made in parts. */
  readonly merge: boolean;
  /** Running inside the qemu guest (guest_chaos.ts): print the runs, write no report. */
  readonly inGuest: boolean;
  /** Only write docs/reliability.md again from docs/reliability.json (`--render`: after a text change). */
  readonly renderOnly: boolean;
  /**
   * How long each traffic attempt waits (`--attempt-timeout`, default 1 s, what the report's table
   * counts with): a longer one shows what a more patient client sees, and cannot be merged into the report.
   */
  readonly attemptTimeoutMs: number;
}

/** What the report's figures count with: an attempt that takes longer failed. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 1000;

/** A bad chaos command line. */
export class ChaosUsageError extends KproxyError {
  override readonly name = 'ChaosUsageError';
  override readonly code = 'KPROXY_CHAOS_USAGE';
}

function list<T extends string>(
  value: string | undefined,
  known: readonly T[],
  what: string,
): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const item of items) {
    if (!(known as readonly string[]).includes(item)) {
      throw new ChaosUsageError(`Unknown ${what}: ${item} (known: ${known.join(', ')})`);
    }
  }
  if (items.length === 0) throw new ChaosUsageError(`No ${what} given`);
  return items as T[];
}

/**
 * Parses `npm run chaos`'s arguments.
 *
 * @param argv the arguments after the script
 * @returns the options: every fault, the modes that run here (userspace, iptables, nftables); with
 *   `--quick` short phases and the iptables mode only, unless `--modes` says otherwise
 * @throws {ChaosUsageError} on an unknown option, mode or fault
 * @example parseChaosArgs(['--quick', '--faults', 'kill9,flush-rules'])
 */
export function parseChaosArgs(argv: readonly string[]): ChaosOptions {
  let values: {
    quick?: boolean;
    merge?: boolean;
    'in-guest'?: boolean;
    render?: boolean;
    modes?: string;
    faults?: string;
    'sync-period'?: string;
    'attempt-timeout'?: string;
    out?: string;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean' },
        merge: { type: 'boolean' },
        'in-guest': { type: 'boolean' },
        render: { type: 'boolean' },
        modes: { type: 'string' },
        faults: { type: 'string' },
        'sync-period': { type: 'string' },
        'attempt-timeout': { type: 'string' },
        out: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new ChaosUsageError(error instanceof Error ? error.message : String(error));
  }
  const quick = values.quick === true;
  const modes =
    list(values.modes, CHAOS_MODES, 'mode') ??
    (quick ? (['iptables'] as ChaosMode[]) : (['userspace', 'iptables', 'nftables'] as ChaosMode[]));
  const faults = list(values.faults, FAULTS, 'fault') ?? [...FAULTS];
  const syncPeriodMs = durationMs(values['sync-period'] ?? '2s', '--sync-period');
  const attemptTimeoutMs = durationMs(values['attempt-timeout'] ?? '1s', '--attempt-timeout');
  if (attemptTimeoutMs === 0) throw new ChaosUsageError('Bad --attempt-timeout: 0');
  if (attemptTimeoutMs !== DEFAULT_ATTEMPT_TIMEOUT_MS && values.merge === true)
    throw new ChaosUsageError(
      `--attempt-timeout ${values['attempt-timeout']} cannot be merged: the report counts with 1 s attempts (use --out)`,
    );
  return {
    quick,
    modes,
    faults,
    syncPeriodMs,
    outDir: values.out ?? 'docs',
    merge: values.merge === true,
    inGuest: values['in-guest'] === true,
    renderOnly: values.render === true,
    attemptTimeoutMs,
  };
}

/** `2s` or `500ms` in ms. */
function durationMs(text: string, flag: string): number {
  const match = /^(\d+)(ms|s)$/.exec(text);
  if (match === null) throw new ChaosUsageError(`Bad ${flag}: ${text} (e.g. 2s, 500ms)`);
  return Number(match[1]) * (match[2] === 's' ? 1000 : 1);
}

/** One run of the plan: a fault in a mode, or why it is not run. */
export interface PlannedRun {
  readonly mode: ChaosMode;
  readonly fault: FaultName;
  /** Why it is skipped (not applicable, or the mode cannot run here); undefined: it runs. */
  readonly skip: string | undefined;
}

/**
 * Every fault × mode the options ask for, in run order (mode by mode), each with its skip reason if any.
 *
 * @param options the parsed options
 * @param unavailable modes that cannot run here, with why (e.g. ipvs outside the guest)
 * @returns the runs
 * @example planRuns(parseChaosArgs(['--quick']), { ipvs: 'needs the qemu guest' })
 */
export function planRuns(
  options: Pick<ChaosOptions, 'modes' | 'faults'>,
  unavailable: Partial<Record<ChaosMode, string>>,
): PlannedRun[] {
  return options.modes.flatMap((mode) =>
    options.faults.map((fault) => ({
      mode,
      fault,
      skip: unavailable[mode] ?? FAULT_INFO[fault].notApplicable[mode],
    })),
  );
}

/** Time a run spends besides its phases: a lab, kproxy's start, its restart, teardown (a rough figure). */
const RUN_OVERHEAD_MS = 10_000;

/**
 * About how long a run of the plan takes (for the banner and the report).
 *
 * @param runs the planned runs
 * @param quick the short phases
 * @returns milliseconds
 * @example estimateMs(planRuns(parseChaosArgs([]), {}), false)
 */
export function estimateMs(runs: readonly PlannedRun[], quick: boolean): number {
  return runs
    .filter((r) => r.skip === undefined)
    .reduce((sum, r) => {
      const t = phaseTimes(r.fault, quick);
      return sum + RUN_OVERHEAD_MS + t.warmupMs + t.faultMs + t.settleMs;
    }, 0);
}
