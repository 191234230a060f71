/**
 * Section 3's pure half: for each service count, plan + render time, rule size and memory of each mode's
 * `renderRules`, each in a process of its own (plan_timer.ts beside this file). Pure CPU, no kernel: always
 * run on the host, for every mode, ipvs included.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeModuleArgv } from '../../src/lab/node_child.ts';
import type { PlanPoint, PlanSeries } from '../report/results.ts';
import { summarize } from '../report/stats.ts';
import { BenchError } from '../tools/bench_error.ts';
import type { PlanTimes } from './plan_timer.ts';
import { writeServiceSet } from './service_manifests.ts';

const PLAN_TIMER = new URL('./plan_timer.ts', import.meta.url).href;

/** Options of {@link runPlanSeries}. */
export interface PlanSeriesOptions {
  readonly modes: readonly PlanSeries['mode'][];
  readonly sizes: readonly number[];
  readonly endpointsPerService: number;
  readonly repeats: number;
  readonly workDir: string;
  readonly log: (line: string) => void;
}

/**
 * Times plan + render for every mode and size.
 *
 * @param options modes, sizes, endpoints, repeats
 * @returns one series per mode
 */
export async function runPlanSeries(options: PlanSeriesOptions): Promise<PlanSeries[]> {
  const series = options.modes.map((mode) => ({
    mode,
    points: [] as PlanPoint[],
    failures: [] as { services: number; reason: string }[],
  }));
  for (const services of options.sizes) {
    const dir = join(options.workDir, `plan-${services}`);
    await mkdir(dir, { recursive: true });
    try {
      await writeServiceSet(dir, { services, endpointsPerService: options.endpointsPerService });
      for (const s of series) {
        try {
          const t = await timePlans(s.mode, dir, options.repeats);
          const point: PlanPoint = {
            services,
            endpointsPerService: options.endpointsPerService,
            planMs: summarize(t.planMs),
            bytes: t.bytes,
            lines: t.lines,
            loadMs: t.loadMs,
            stateHeapMb: t.stateHeapMb,
            planHeapMb: t.planHeapMb,
          };
          s.points.push(point);
          options.log(
            `  plan ${s.mode} ${services} services: ${point.planMs.median} ms, ${point.bytes} B, ` +
              `${point.lines} lines (load ${point.loadMs} ms)`,
          );
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          s.failures.push({ services, reason });
          options.log(`  plan ${s.mode} ${services} services: not measured: ${reason}`);
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return series;
}

function timePlans(mode: string, dir: string, repeat: number): Promise<PlanTimes> {
  const [node, ...rest] = nodeModuleArgv(PLAN_TIMER, [mode, dir, '--repeat', String(repeat)]);
  return new Promise((resolve, reject) => {
    execFile(
      node!,
      ['--expose-gc', ...rest],
      { timeout: 600_000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error !== null) {
          const why = stderr.trim().split('\n').slice(0, 3).join(' | ') || error.message;
          reject(new BenchError(`The plan timer failed: ${why}`, { cause: error }));
          return;
        }
        resolve(JSON.parse(stdout) as PlanTimes);
      },
    );
  });
}
