/**
 * The part of the benchmark that runs inside the qemu guest (the host kernel has no IPVS): builds the same
 * lab as on the host, runs the data path and the scale runs for the modes it is told, and prints one line
 * `KPT-BENCH-RESULT {...}` ({@link GuestResults}) on stdout; progress goes to stderr. Started by
 * guest_bench.ts through runInGuest.
 *
 * @example node guest_main.ts '{"dataPath":{...},"scale":{...},"iptablesBackend":"legacy"}'
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainModule } from '../src/lab/node_child.ts';
import type {
  DataPathResult,
  DataPathSettings,
  DataPathTarget,
  GuestResults,
  KernelMode,
  ScaleSeries,
} from './report/results.ts';
import { openBenchLab } from './scenarios/bench_lab.ts';
import { runDataPath } from './scenarios/data_path.ts';
import { runScale } from './scenarios/scale.ts';

/** What the host asks the guest to run. */
export interface GuestConfig {
  readonly dataPath?: (DataPathSettings & { readonly targets: readonly DataPathTarget[] }) | undefined;
  readonly scale?:
    | {
        readonly modes: readonly KernelMode[];
        readonly sizes: readonly number[];
        readonly endpointsPerService: number;
        readonly connects: number;
        /** Rounds of interleaved direct and VIP batches (scale.ts). */
        readonly rounds: number;
        readonly wrkSeconds: number;
        readonly wrkRuns: number;
      }
    | undefined;
  readonly iptablesBackend: 'legacy' | 'nft';
  /** The command prefix that starts kproxy (host paths: the guest sees the host's files). */
  readonly kproxy: readonly string[];
  /** How much slower than the host the guest is assumed to be (timeouts). */
  readonly slowdown: number;
}

/** The marker of the result line on stdout. */
export const RESULT_MARKER = 'KPT-BENCH-RESULT ';

/**
 * Runs the guest's share of the benchmark.
 *
 * @param config what to run
 * @param log progress output
 * @returns the results
 */
export async function runGuestBench(config: GuestConfig, log: (line: string) => void): Promise<GuestResults> {
  const started = performance.now();
  // The guest kernel has IPVS as modules: load them before kproxy checks for them.
  for (const module of ['ip_vs', 'ip_vs_rr']) spawnSync('modprobe', [module]);
  const workDir = await mkdtemp(join(tmpdir(), 'kpt-bench-guest-'));
  const bench = await openBenchLab(config.slowdown);
  let dataPath: DataPathResult[] = [];
  const scale: ScaleSeries[] = [];
  try {
    if (config.dataPath !== undefined) {
      log('guest: data path');
      dataPath = await runDataPath(bench.lab, bench.backend, {
        ...config.dataPath,
        place: 'guest',
        iptablesBackend: config.iptablesBackend,
        kproxy: config.kproxy,
        workDir,
        log,
      });
    }
    for (const mode of config.scale?.modes ?? []) {
      log(`guest: scale ${mode}`);
      scale.push(
        await runScale(bench.lab, bench.backend, {
          mode,
          place: 'guest',
          iptablesBackend: config.iptablesBackend,
          kproxy: config.kproxy,
          sizes: config.scale!.sizes,
          endpointsPerService: config.scale!.endpointsPerService,
          connects: config.scale!.connects,
          rounds: config.scale!.rounds,
          wrkSeconds: config.scale!.wrkSeconds,
          wrkRuns: config.scale!.wrkRuns,
          probe: bench.probe,
          slowdown: config.slowdown,
          workDir,
          log,
        }),
      );
    }
  } finally {
    await bench.close();
    await rm(workDir, { recursive: true, force: true });
  }
  return {
    dataPath,
    scale,
    kernel: release(),
    cpus: cpus().length,
    durationMs: Math.round(performance.now() - started),
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as GuestConfig;
  const started = performance.now();
  const log = (line: string) =>
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  const results = await runGuestBench(config, log);
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(results)}\n`);
}

if (isMainModule(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
