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
  /** Seconds and number of the connections/s runs per scale point (0 = none). */
  readonly scaleWrkSeconds: number;
  readonly scaleWrkRuns: number;
  readonly endpointsPerService: number;
  /** Service counts and repeats of plan + render timing (host). */
  readonly planSizes: readonly number[];
  readonly planRepeats: number;
  /** Sizes for bench/iptables-scale.ts. */
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
        targets: ['direct', 'haproxy', 'haproxy-portals', 'userspace', 'iptables', 'nftables'],
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
      scaleWrkSeconds: 2,
      scaleWrkRuns: 1,
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
      targets: ['direct', 'haproxy', 'haproxy-portals', 'userspace', 'iptables', 'nftables'],
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
