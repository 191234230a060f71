/**
 * How much the benchmark measures: the full run, and the quick run for smoke tests (under five minutes on
 * a two-core machine: fewer repetitions, shorter load runs, only the small sizes).
 *
 * @module
 */
import type { GuestConfig } from '../guest_main.ts';
import type { DataPathSettings, DataPathTarget, KernelMode } from '../report/results.ts';

/** One mode's first-packet and sync runs on the host: the service counts, ascending. */
export interface ScaleRun {
  readonly mode: KernelMode;
  readonly sizes: readonly number[];
}

/** Everything a run needs to know about its size. */
export interface BenchSettings {
  readonly dataPath: DataPathSettings & { readonly targets: readonly DataPathTarget[] };
  /** The host's scale runs (first packet and syncs), one per mode, and the connects per count. */
  readonly scale: readonly ScaleRun[];
  readonly connects: number;
  /** Rounds of interleaved direct and VIP connect batches per scale point (scale.ts, interleave.ts). */
  readonly scaleRounds: number;
  /** Seconds and number of the connections/s runs per scale point (0 = none). */
  readonly scaleWrkSeconds: number;
  readonly scaleWrkRuns: number;
  readonly endpointsPerService: number;
  /** Service counts and repeats of plan + render timing (host). */
  readonly planSizes: readonly number[];
  readonly planRepeats: number;
  /** Sizes for bench/control-plane-probe.ts --mode iptables (section iptables-scale). */
  readonly iptablesScaleSizes: readonly number[];
  /**
   * The guest's share, as one or more boots (each with its time limit): a boot that fails or times out
   * loses only its own part.
   */
  readonly guest: readonly GuestRun[];
}

/** One guest boot: what it runs, what that is called in the report, and how long it may take. */
export interface GuestRun {
  readonly what: string;
  readonly config: Omit<GuestConfig, 'iptablesBackend' | 'kproxy'>;
  readonly timeoutMs: number;
}

/**
 * The settings of a quick or a full run.
 *
 * @param quick the quick variant
 * @returns the settings
 * @example benchSettings(true).dataPath.repetitions // 3
 */
export function benchSettings(quick: boolean): BenchSettings {
  if (quick) {
    return {
      dataPath: {
        targets: ['direct', 'static-dnat', 'haproxy', 'haproxy-portals', 'userspace', 'iptables', 'nftables'],
        repetitions: 3,
        wrkSeconds: 2,
        iperfSeconds: 2,
        connections: 16,
        services: 100,
      },
      scale: [
        { mode: 'iptables', sizes: [100, 1000] },
        { mode: 'nftables', sizes: [100, 1000] },
      ],
      connects: 300,
      scaleRounds: 6,
      scaleWrkSeconds: 2,
      // Two rounds of one direct and one VIP run: a single 2 s run of each was too noisy to compare.
      scaleWrkRuns: 2,
      endpointsPerService: 10,
      planSizes: [1000],
      planRepeats: 3,
      iptablesScaleSizes: [1000],
      // One boot, ipvs at 1k services only: the guest's software CPU makes every kproxy start and sync many
      // times slower, and the quick run must stay under five minutes.
      guest: [
        {
          what: 'guest: data path and ipvs scale',
          config: {
            dataPath: {
              targets: ['direct', 'ipvs'],
              repetitions: 1,
              wrkSeconds: 2,
              iperfSeconds: 2,
              connections: 16,
              services: 100,
            },
            scale: {
              modes: ['ipvs'],
              sizes: [1000],
              endpointsPerService: 10,
              connects: 100,
              rounds: 4,
              wrkSeconds: 2,
              wrkRuns: 1,
            },
            slowdown: 10,
          },
          timeoutMs: 6 * 60_000,
        },
      ],
    };
  }
  return {
    dataPath: {
      targets: ['direct', 'static-dnat', 'haproxy', 'haproxy-portals', 'userspace', 'iptables', 'nftables'],
      repetitions: 5,
      wrkSeconds: 5,
      iperfSeconds: 5,
      connections: 16,
      services: 100,
    },
    scale: (['iptables', 'nftables'] as const).map((mode) => ({
      mode,
      sizes: [100, 1000, 5000, 10_000],
    })),
    connects: 1000,
    scaleRounds: 10,
    scaleWrkSeconds: 3,
    scaleWrkRuns: 3,
    endpointsPerService: 10,
    planSizes: [1000, 5000, 10_000],
    planRepeats: 5,
    iptablesScaleSizes: [1000, 5000, 10_000],
    guest: [
      {
        what: 'guest: data path',
        config: {
          dataPath: {
            targets: ['direct', 'haproxy', 'userspace', 'iptables', 'ipvs'],
            repetitions: 3,
            wrkSeconds: 3,
            iperfSeconds: 3,
            connections: 16,
            services: 100,
          },
          slowdown: 20,
        },
        timeoutMs: 40 * 60_000,
      },
      ...(['ipvs', 'iptables'] as const).map((mode) => ({
        what: `guest: ${mode} scale`,
        config: {
          scale: {
            modes: [mode],
            sizes: [100, 1000, 5000, 10_000],
            endpointsPerService: 10,
            connects: 300,
            rounds: 6,
            wrkSeconds: 3,
            wrkRuns: 3,
          },
          slowdown: 20,
        },
        timeoutMs: 60 * 60_000,
      })),
    ],
  };
}

/**
 * The host's scale runs after `--modes` and `--sizes`.
 *
 * @param runs the settings' runs
 * @param modes the modes to keep (absent: all)
 * @param sizes the service counts every kept run uses instead of its own (absent: its own)
 * @returns the runs to do
 * @example selectScaleRuns(settings.scale, new Set(['nftables']), [100, 1000])
 */
export function selectScaleRuns(
  runs: readonly ScaleRun[],
  modes: ReadonlySet<string> | undefined,
  sizes: readonly number[] | undefined,
): ScaleRun[] {
  return runs
    .filter((r) => modes === undefined || modes.has(r.mode))
    .map((r) => (sizes === undefined ? r : { ...r, sizes }));
}

/**
 * Parses `--modes` (modes the scale or plan section knows) or `--sizes` (positive integers, ascending).
 *
 * @param flag which option
 * @param value its comma-separated value
 * @returns the modes, or the sizes sorted and without duplicates
 * @throws {Error} on an unknown mode, a size that is not a positive integer, or an empty list
 * @example parseListOption('--sizes', '1000,100') // [100, 1000]
 */
export function parseListOption(flag: '--modes', value: string): string[];
export function parseListOption(flag: '--sizes', value: string): number[];
export function parseListOption(flag: '--modes' | '--sizes', value: string): string[] | number[] {
  const items = value
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (items.length === 0) throw new Error(`Invalid ${flag}: an empty list`);
  if (flag === '--modes') {
    for (const m of items) {
      if (!(LIST_MODES as readonly string[]).includes(m))
        throw new Error(`Invalid --modes: "${m}" (any of ${LIST_MODES.join(', ')})`);
    }
    return [...new Set(items)];
  }
  const sizes = items.map((x) => {
    const n = Number(x.replaceAll('_', ''));
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`Invalid --sizes: "${x}" (service counts, e.g. 100,1000)`);
    return n;
  });
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/** The modes `--modes` knows: the host scale series' and the plan series'. */
const LIST_MODES: readonly (KernelMode | 'userspace')[] = ['iptables', 'nftables', 'ipvs', 'userspace'];
