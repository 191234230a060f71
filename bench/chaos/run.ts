/**
 * `npm run chaos` (as root): measures kproxy under faults (issue 17) and writes docs/reliability.md and
 * docs/reliability.json. See schedule.ts for the options and the faults, chaos_lab.ts for one run.
 *
 * @example npm run chaos -- --quick --faults kill9,flush-rules
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { runChaos } from './chaos_lab.ts';
import { CHAOS_RESULT_MARKER, runChaosInGuest } from './guest_chaos.ts';
import {
  type ChaosReport,
  type ChaosRunResult,
  isComplete,
  mergeRuns,
  renderMarkdown,
  type SkippedRun,
} from './report.ts';
import {
  type ChaosOptions,
  ChaosUsageError,
  estimateMs,
  FAULTS,
  type FaultName,
  parseChaosArgs,
  phaseTimes,
  planRuns,
} from './schedule.ts';

/**
 * How much longer start-up waits are in the emulated guest: Node with tsx starts in about 3.5 s of CPU
 * there (0.3 s on the host), and a kproxy sync takes seconds (a few hundred ms on the host).
 */
const GUEST_SLOWDOWN = 8;

async function main(): Promise<number> {
  let options: ReturnType<typeof parseChaosArgs>;
  try {
    options = parseChaosArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof ChaosUsageError) {
      console.error(`chaos: ${error.message}`);
      console.error(
        'usage: npm run chaos -- [--quick] [--modes userspace,iptables,nftables] [--faults kill9,...] [--sync-period 2s] [--attempt-timeout 1s] [--out docs] [--merge] [--render]',
      );
      return 2;
    }
    throw error;
  }
  if (options.renderOnly) {
    const earlier = await readEarlier(join(options.outDir, 'reliability.json'));
    if (earlier === undefined) {
      console.error(`chaos: no ${join(options.outDir, 'reliability.json')} to render`);
      return 2;
    }
    await writeFile(join(options.outDir, 'reliability.md'), renderMarkdown(earlier));
    return 0;
  }
  if (process.getuid?.() !== 0) {
    console.error('chaos: needs root (network namespaces); run it as root');
    return 2;
  }
  if (options.inGuest) {
    // The guest kernel has IPVS as modules: load them before kproxy checks for them.
    for (const module of ['ip_vs', 'ip_vs_rr']) spawnSync('modprobe', [module]);
  }
  const planned = planRuns(options, {});
  const toRun = planned.filter((r) => r.skip === undefined);
  const skipped: SkippedRun[] = planned
    .filter((r) => r.skip !== undefined)
    .map((r) => ({ mode: r.mode, fault: r.fault, reason: r.skip! }));
  const estimate = Math.round(estimateMs(planned, options.quick) / 1000);
  console.error(`chaos: ${toRun.length} runs (${skipped.length} skipped), about ${estimate} s`);
  const started = Date.now();
  const runs: ChaosRunResult[] = [];
  // The ipvs mode runs in the qemu guest (the host kernel has no IPVS), all its faults in one boot.
  const inGuest = toRun.filter((r) => r.mode === 'ipvs' && !options.inGuest);
  for (const r of toRun) {
    if (inGuest.includes(r)) continue;
    console.error(`chaos: ${r.mode} × ${r.fault}`);
    const result = await runChaos({
      mode: r.mode,
      fault: r.fault,
      quick: options.quick,
      syncPeriodMs: options.syncPeriodMs,
      log: (line) => console.error(line),
      slowdown: options.inGuest ? GUEST_SLOWDOWN : 1,
      attemptTimeoutMs: options.attemptTimeoutMs,
    });
    const t = result.tcp;
    console.error(
      result.error !== undefined
        ? `  error: ${result.error}`
        : `  tcp ${t?.failed}/${t?.tried} failed, longest ${t?.longestInterruptionMs} ms, recover ${t?.recoverMs} ms; udp ${result.udp?.failed}/${result.udp?.tried}`,
    );
    runs.push(result);
  }
  if (options.inGuest) {
    process.stdout.write(`${CHAOS_RESULT_MARKER}${JSON.stringify(runs)}\n`);
    return 0;
  }
  if (inGuest.length > 0)
    runs.push(
      ...(await guestRuns(
        inGuest.map((r) => r.fault),
        options,
      )),
    );
  const command = [
    'npm run chaos',
    ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
  ].join(' ');
  const jsonPath = join(options.outDir, 'reliability.json');
  const earlier = options.merge ? await readEarlier(jsonPath) : undefined;
  const merged = mergeRuns(earlier ?? { runs: [], skipped: [] }, { runs, skipped });
  if (!merged.runs.some((r) => r.mode === 'ipvs') && !merged.skipped.some((r) => r.mode === 'ipvs')) {
    // Say so rather than leave the mode out silently.
    const reason = `not run: the host kernel has no IPVS; \`--modes ipvs\` runs it in the qemu guest (emulated: slow)`;
    merged.skipped.push(...FAULTS.map((fault) => ({ mode: 'ipvs' as const, fault, reason })));
  }
  const report: ChaosReport = {
    generatedAt: new Date().toISOString(),
    commands: [...(earlier?.commands ?? []), command],
    // Partial: a host mode misses a fault, or some run (the guest's too) failed or had short phases.
    partial:
      !isComplete(merged.runs, merged.skipped, ['userspace', 'iptables', 'nftables']) ||
      merged.runs.some((r) => r.error !== undefined || r.quick),
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

/** The ipvs runs, from the guest; a guest that cannot run makes each of them an error run. */
async function guestRuns(faults: FaultName[], options: ChaosOptions): Promise<ChaosRunResult[]> {
  const planned = planRuns({ modes: ['ipvs'], faults }, {});
  const timeoutMs = GUEST_SLOWDOWN * estimateMs(planned, options.quick) + 120_000;
  console.error(
    `chaos: ipvs × ${faults.join(', ')} in the qemu guest (at most ${Math.round(timeoutMs / 1000)} s)`,
  );
  try {
    const runs = await runChaosInGuest(faults, {
      quick: options.quick,
      syncPeriodMs: options.syncPeriodMs,
      attemptTimeoutMs: options.attemptTimeoutMs,
      timeoutMs,
    });
    for (const r of runs)
      console.error(`  ipvs ${r.fault}: ${r.error ?? `tcp ${r.tcp?.failed}/${r.tcp?.tried} failed`}`);
    return runs;
  } catch (error) {
    const message =
      `the qemu guest run failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500);
    console.error(`  ${message}`);
    return faults.map((fault) => ({
      mode: 'ipvs' as const,
      fault,
      quick: options.quick,
      syncPeriodMs: options.syncPeriodMs,
      backend: undefined,
      faultAt: undefined,
      faultMs: undefined,
      times: phaseTimes(fault, options.quick),
      tcp: undefined,
      udp: undefined,
      tcpOutages: [],
      udpOutages: [],
      marks: {},
      backends: {},
      notes: [],
      error: message,
    }));
  }
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
