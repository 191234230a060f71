/**
 * `npm run chaos` (as root): measures kproxy under faults (issue 17) and writes docs/reliability.md and
 * docs/reliability.json. See schedule.ts for the options and the faults, chaos_lab.ts for one run.
 *
 * @example npm run chaos -- --quick --faults kill9,flush-rules
 * @module
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { runChaos } from './chaos_lab.ts';
import {
  type ChaosReport,
  type ChaosRunResult,
  isComplete,
  mergeRuns,
  renderMarkdown,
  type SkippedRun,
} from './report.ts';
import { type ChaosMode, ChaosUsageError, estimateMs, parseChaosArgs, planRuns } from './schedule.ts';

/** Modes that cannot run on this machine, and why. */
const UNAVAILABLE: Partial<Record<ChaosMode, string>> = {
  ipvs: 'runs only in the qemu guest (bench/guest_main.ts), which has no chaos scenario yet',
};

async function main(): Promise<number> {
  let options: ReturnType<typeof parseChaosArgs>;
  try {
    options = parseChaosArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof ChaosUsageError) {
      console.error(`chaos: ${error.message}`);
      console.error(
        'usage: npm run chaos -- [--quick] [--modes userspace,iptables,nftables] [--faults kill9,...] [--sync-period 2s] [--out docs] [--merge]',
      );
      return 2;
    }
    throw error;
  }
  if (process.getuid?.() !== 0) {
    console.error('chaos: needs root (network namespaces); run it as root');
    return 2;
  }
  const planned = planRuns(options, UNAVAILABLE);
  const toRun = planned.filter((r) => r.skip === undefined);
  const skipped: SkippedRun[] = planned
    .filter((r) => r.skip !== undefined)
    .map((r) => ({ mode: r.mode, fault: r.fault, reason: r.skip! }));
  const estimate = Math.round(estimateMs(planned, options.quick) / 1000);
  console.error(`chaos: ${toRun.length} runs (${skipped.length} skipped), about ${estimate} s`);
  const started = Date.now();
  const runs: ChaosRunResult[] = [];
  for (const r of toRun) {
    console.error(`chaos: ${r.mode} × ${r.fault}`);
    const result = await runChaos({
      mode: r.mode,
      fault: r.fault,
      quick: options.quick,
      syncPeriodMs: options.syncPeriodMs,
      log: (line) => console.error(line),
    });
    const t = result.tcp;
    console.error(
      result.error !== undefined
        ? `  error: ${result.error}`
        : `  tcp ${t?.failed}/${t?.tried} failed, longest ${t?.longestInterruptionMs} ms, recover ${t?.recoverMs} ms; udp ${result.udp?.failed}/${result.udp?.tried}`,
    );
    runs.push(result);
  }
  const command = [
    'npm run chaos',
    ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
  ].join(' ');
  const jsonPath = join(options.outDir, 'reliability.json');
  const earlier = options.merge ? await readEarlier(jsonPath) : undefined;
  const merged = mergeRuns(earlier ?? { runs: [], skipped: [] }, { runs, skipped });
  const report: ChaosReport = {
    generatedAt: new Date().toISOString(),
    commands: [...(earlier?.commands ?? []), command],
    partial: !isComplete(merged.runs, merged.skipped, ['userspace', 'iptables', 'nftables']),
    durationMs: (earlier?.durationMs ?? 0) + Date.now() - started,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Linux, Node ${process.version}`,
    runs: merged.runs,
    skipped: merged.skipped,
  };
  await mkdir(options.outDir, { recursive: true });
  await writeFile(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(options.outDir, 'reliability.md'), renderMarkdown(report));
  console.error(
    `chaos: wrote ${join(options.outDir, 'reliability.md')} in ${Math.round(report.durationMs / 1000)} s`,
  );
  return runs.some((r) => r.error !== undefined) ? 1 : 0;
}

/** The earlier report, for `--merge` (none when there is no file yet). */
async function readEarlier(path: string): Promise<ChaosReport | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ChaosReport;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

process.exitCode = await main();
