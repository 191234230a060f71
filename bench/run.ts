/**
 * The benchmark command (`npm run bench`, `npm run bench:quick`): in one run on one machine, the data path
 * of every available mode beside a direct connection and HAProxy, the first-packet cost against the number
 * of services and the control plane (sync and plan times, memory, rule sizes) for the iptables and nftables
 * modes, checked against the nftables mode's targets; the ipvs mode (and, for comparison, iptables) in the
 * qemu guest, whose kernel has IPVS. Writes `bench/results/<date>.json`,
 * `docs/benchmarks/README.md` and the SVG plots beside it.
 *
 * Safety: everything runs in kpt- namespaces of its own (src/lab/lab.ts), with 198.18.0.0/15 addresses,
 * torn down in `finally` and by the lab's exit/signal safety net; every load is bounded in time and count.
 *
 * Usage: node --import tsx bench/run.ts [--quick] [--skip-guest] [--from-source]
 *          [--sections data,scale,plan,iptables-scale,guest] [--iptables-backend legacy|nft]
 *          [--modes iptables,nftables] [--sizes 100,10000]
 *          [--render bench/results/FILE.json] [--merge bench/results/FILE.json] [--out DIR]
 *
 * `--merge FILE` runs the chosen sections and merges them into FILE (e.g. a section that could not run the
 * first time; with `--modes`/`--sizes`, only those scale rows are replaced); `--render FILE` only rewrites
 * the report and the plots from FILE; `--help` prints the options.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isProxyMode } from '../src/contracts/proxy_mode.ts';
import { isMainModule } from '../src/lab/node_child.ts';
import { loadMode } from '../src/modes/registry.ts';
import { renderBenchCharts } from './report/charts.ts';
import { headlineRatios, renderBenchReadme } from './report/markdown.ts';
import {
  type MergeScope,
  mergeResults,
  planNotMeasuredWhat,
  scaleNotMeasuredWhat,
} from './report/merge_results.ts';
import type {
  BenchResults,
  DataPathResult,
  DataPathTarget,
  NotMeasured,
  PlanSeries,
  ScaleSeries,
  Section,
} from './report/results.ts';
import { formatTargetCell, TARGET_MODES, targetRows } from './report/targets.ts';
import { openBenchLab } from './scenarios/bench_lab.ts';
import { benchSettings, parseListOption, selectScaleRuns } from './scenarios/bench_settings.ts';
import { runDataPath } from './scenarios/data_path.ts';
import { runGuest } from './scenarios/guest_bench.ts';
import { runIptablesScale } from './scenarios/iptables_scale_child.ts';
import { runPlanSeries } from './scenarios/plan_series.ts';
import { runScale } from './scenarios/scale.ts';
import { DATA_PATH_TOOLS, ensureTools } from './tools/ensure_tools.ts';
import { prepareKproxy } from './tools/kproxy_build.ts';
import { machineInfo } from './tools/machine_info.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const DOCS_DIR = join(ROOT, 'docs', 'benchmarks');

/** The sections of a run, as `--sections` names them. */
export const SECTIONS: readonly Section[] = ['data', 'data6', 'scale', 'plan', 'iptables-scale', 'guest'];

/** Options of {@link runBench}. */
export interface RunBenchOptions {
  readonly quick: boolean;
  /** Which sections run (default all). */
  readonly sections: ReadonlySet<Section>;
  readonly fromSource: boolean;
  readonly iptablesBackend: 'legacy' | 'nft';
  /**
   * `--modes`: the modes whose scale series (and plan series) run; absent: all. The data path always runs
   * every target, for its ratios to the direct connection of the same run.
   */
  readonly modes?: ReadonlySet<string> | undefined;
  /** `--sizes`: the service counts of the scale series, instead of the settings' (absent: those). */
  readonly sizes?: readonly number[] | undefined;
  readonly log: (line: string) => void;
}

/**
 * Runs the whole benchmark.
 *
 * @param options quick or full, guest or not, how kproxy runs, iptables backend
 * @returns the results (not yet written)
 */
export async function runBench(options: RunBenchOptions): Promise<BenchResults> {
  const started = performance.now();
  const date = new Date().toISOString();
  const settings = benchSettings(options.quick);
  const log = options.log;
  const notMeasured: NotMeasured[] = [];
  if (options.quick) {
    notMeasured.push({
      what: 'quick mode',
      reason:
        'only 100 and 1k services (1k in the guest); no 5k/10k sizes (so the targets stated at 10k are not judged), no iptables scale series and no HAProxy/userspace/iptables data path in the guest, fewer repetitions (run `npm run bench` for those)',
    });
  }
  if (process.getuid?.() !== 0) {
    throw new Error('The benchmark needs root: it builds network namespaces and programs their netfilter');
  }
  const machine = await machineInfo();
  log(
    `machine: ${machine.cpuModel}, ${machine.cores} cores, Linux ${machine.kernel}, load ${machine.loadAverage}`,
  );
  const installed = await ensureTools(DATA_PATH_TOOLS, { log });
  if (installed.length > 0) log(`installed: ${installed.join(' ')}`);
  const kproxy = await prepareKproxy({ fromSource: options.fromSource, log });
  log(`kproxy: ${kproxy.build}`);
  const workDir = await mkdtemp(join(tmpdir(), 'kpt-bench-'));
  const unavailable = new Map<DataPathTarget, string>();
  for (const target of settings.dataPath.targets) {
    const reason = await modeUnavailable(target);
    if (reason !== undefined) unavailable.set(target, reason);
  }

  let dataPath: DataPathResult[] = [];
  const scale: ScaleSeries[] = [];
  let plan: PlanSeries[] = [];
  let iptablesScale: Record<string, unknown>[] | undefined;
  let guest: BenchResults['guest'];
  try {
    const on = options.sections;
    const bench = on.has('data') || on.has('data6') || on.has('scale') ? await openBenchLab(1) : undefined;
    try {
      if (bench !== undefined && on.has('data')) {
        log('1. data path (host)');
        dataPath = await runDataPath(bench.lab, bench.backend, {
          ...settings.dataPath,
          place: 'host',
          iptablesBackend: options.iptablesBackend,
          kproxy: kproxy.argv,
          unavailable,
          workDir,
          log,
        });
      }
      if (bench !== undefined && on.has('data6')) {
        log('1b. data path over IPv6 (host)');
        dataPath.push(
          ...(await runDataPath(bench.lab, bench.backend, {
            ...settings.dataPath,
            place: 'host-ipv6',
            ipFamily: 'IPv6',
            targets: settings.dataPath.targets.filter((t) => t !== 'haproxy' && t !== 'haproxy-portals'),
            iptablesBackend: options.iptablesBackend,
            kproxy: kproxy.argv,
            unavailable: await withoutIpv6(settings.dataPath.targets, unavailable),
            workDir,
            log,
          })),
        );
      }
      for (const run of settings.scale) {
        if (options.modes !== undefined && !options.modes.has(run.mode))
          notMeasured.push({
            what: scaleNotMeasuredWhat(run.mode, 'host'),
            reason: 'not selected (--modes)',
            section: 'scale',
          });
      }
      for (const run of selectScaleRuns(settings.scale, options.modes, options.sizes)) {
        const what = scaleNotMeasuredWhat(run.mode, 'host');
        const reason =
          bench !== undefined && on.has('scale') ? await modeUnavailable(run.mode) : 'section skipped';
        if (bench === undefined || reason !== undefined) {
          notMeasured.push({ what, reason: reason ?? 'section skipped', section: 'scale' });
          continue;
        }
        log(`2./3. first packet and syncs against the number of services (host, ${run.mode})`);
        scale.push(
          await runScale(bench.lab, bench.backend, {
            mode: run.mode,
            place: 'host',
            iptablesBackend: options.iptablesBackend,
            kproxy: kproxy.argv,
            sizes: run.sizes,
            endpointsPerService: settings.endpointsPerService,
            connects: settings.connects,
            rounds: settings.scaleRounds,
            wrkSeconds: settings.scaleWrkSeconds,
            wrkRuns: settings.scaleWrkRuns,
            probe: bench.probe,
            slowdown: 1,
            workDir,
            log,
          }),
        );
      }
    } finally {
      await bench?.close();
    }

    if (on.has('plan')) {
      log('3. plan + render (host, pure CPU)');
      const planModes: PlanSeries['mode'][] = [];
      for (const mode of ['iptables', 'nftables', 'ipvs', 'userspace'] as const) {
        if (options.modes !== undefined && !options.modes.has(mode)) continue;
        const reason = await modeUnavailable(mode);
        if (reason === undefined) planModes.push(mode);
        else notMeasured.push({ what: planNotMeasuredWhat(mode), reason, section: 'plan' });
      }
      plan = await runPlanSeries({
        modes: planModes,
        sizes: settings.planSizes,
        endpointsPerService: settings.endpointsPerService,
        repeats: settings.planRepeats,
        workDir,
        log,
      });
    }

    if (on.has('iptables-scale')) {
      log('3. the control-plane probe of the iptables mode (bench/control-plane-probe.ts --mode iptables)');
      try {
        iptablesScale = await runIptablesScale({
          sizes: settings.iptablesScaleSizes,
          endpoints: settings.endpointsPerService,
          backend: options.iptablesBackend,
          timeoutMs: options.quick ? 120_000 : 900_000,
        });
        for (const row of iptablesScale) log(`  ${JSON.stringify(row)}`);
      } catch (error) {
        notMeasured.push({
          what: 'bench/control-plane-probe.ts --mode iptables',
          reason: message(error),
          section: 'iptables-scale',
        });
        log(`  not measured: ${message(error)}`);
      }
    }

    if (!on.has('guest')) {
      notMeasured.push({
        what: 'ipvs and iptables in the guest',
        reason: 'section skipped',
        section: 'guest',
      });
    } else {
      notMeasured.push({
        what: 'nftables in the guest',
        reason:
          "not run: the guest is there for IPVS, which the host kernel lacks; the host's nftables figures are the mode's (its emulated CPU would add some ten minutes)",
        section: 'guest',
      });
      const ipvsReason = await modeUnavailable('ipvs');
      if (ipvsReason !== undefined)
        notMeasured.push({ what: 'ipvs (guest)', reason: ipvsReason, section: 'guest' });
      for (const run of ipvsReason === undefined ? settings.guest : []) {
        log(`${run.what} (qemu TCG, IPVS)`);
        try {
          const config = { ...run.config, iptablesBackend: options.iptablesBackend, kproxy: kproxy.argv };
          const r = await runGuest(config, { timeoutMs: run.timeoutMs, memoryMb: 3072 });
          for (const line of r.log.trim().split('\n')) log(`  | ${line}`);
          dataPath = [...dataPath, ...r.results.dataPath];
          scale.push(...r.results.scale);
          guest = {
            kernel: r.results.kernel,
            cpus: r.results.cpus,
            durationMs: (guest?.durationMs ?? 0) + r.results.durationMs,
          };
        } catch (error) {
          notMeasured.push({ what: run.what, reason: message(error), section: 'guest' });
          log(`  not measured: ${message(error)}`);
        }
      }
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return {
    version: 1,
    date,
    quick: options.quick,
    durationMs: Math.round(performance.now() - started),
    machine,
    kproxyBuild: kproxy.build,
    git: gitDescribe(),
    iptablesBackend: options.iptablesBackend,
    dataPathSettings: {
      repetitions: settings.dataPath.repetitions,
      wrkSeconds: settings.dataPath.wrkSeconds,
      iperfSeconds: settings.dataPath.iperfSeconds,
      connections: settings.dataPath.connections,
      services: settings.dataPath.services,
    },
    dataPath,
    scale,
    plan,
    guest,
    iptablesScale,
    notMeasured,
  };
}

/** {@link modeUnavailable}'s reasons, plus the kproxy modes that do not plan IPv6 (ModeDefinition.ipFamilies). */
async function withoutIpv6(
  targets: readonly DataPathTarget[],
  unavailable: ReadonlyMap<DataPathTarget, string>,
): Promise<Map<DataPathTarget, string>> {
  const out = new Map(unavailable);
  for (const target of targets) {
    if (NOT_KPROXY.includes(target) || out.has(target) || !isProxyMode(target)) continue;
    const mode = await loadMode(target);
    if (!(mode.ipFamilies ?? ['IPv4']).includes('IPv6'))
      out.set(target, `the ${target} mode does not plan IPv6`);
  }
  return out;
}

/** Data-path targets that are not kproxy modes (always available here). */
const NOT_KPROXY: readonly DataPathTarget[] = ['direct', 'static-dnat', 'haproxy', 'haproxy-portals'];

/**
 * Why a kproxy mode cannot be measured here (this kproxy has no such mode, or its module fails to load), or
 * undefined; undefined for a target that is not a kproxy mode.
 */
async function modeUnavailable(target: DataPathTarget): Promise<string | undefined> {
  if (NOT_KPROXY.includes(target)) return undefined;
  if (!isProxyMode(target)) return `kproxy has no --proxy-mode ${target} yet (src/contracts/proxy_mode.ts)`;
  try {
    await loadMode(target);
    return undefined;
  } catch (error) {
    return `src/modes/${target}/index.ts cannot be loaded: ${message(error).split('\n')[0]}`;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function gitDescribe(): string {
  try {
    return execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/**
 * Writes the results file, the report and the plots.
 *
 * @param results the results
 * @param resultsFile where the results file is (or goes), absolute
 * @param write whether to write the results file too (not when re-rendering one)
 * @returns the files written
 */
export async function writeReport(
  results: BenchResults,
  resultsFile: string,
  write: boolean,
  docsDir: string = DOCS_DIR,
): Promise<string[]> {
  const files: string[] = [];
  if (write) {
    await mkdir(dirname(resultsFile), { recursive: true });
    await writeFile(resultsFile, `${JSON.stringify(results, null, 1)}\n`);
    files.push(resultsFile);
  }
  await mkdir(docsDir, { recursive: true });
  const charts = renderBenchCharts(results);
  for (const chart of charts) {
    await writeFile(join(docsDir, chart.file), chart.svg);
    files.push(join(docsDir, chart.file));
  }
  const readme = join(docsDir, 'README.md');
  await writeFile(readme, renderBenchReadme(results, relative(ROOT, resultsFile), charts));
  files.push(readme);
  return files;
}

const USAGE = `Usage: npm run bench [-- options]   (npm run bench:quick: the same with --quick; needs root)

  --quick                   fewer repetitions, shorter loads, only the small sizes (under five minutes)
  --sections LIST           which sections run, comma-separated (default ${SECTIONS.join(',')})
  --skip-guest              the same as leaving guest out of --sections
  --from-source             run kproxy's sources through tsx instead of a tsc build (.cache/bench-build/)
  --iptables-backend B      legacy or nft (default legacy)
  --modes LIST              only these modes' scale and plan series, e.g. nftables or iptables,nftables
                            (default all; the data path always runs every target)
  --sizes LIST              the service counts of the scale series, e.g. 100,1000 (default: the run's)
  --merge FILE              run the chosen sections and merge them into the results FILE; with --modes or
                            --sizes only the scale rows of the same mode and size (and the plan series of
                            the same mode) are replaced, the others kept
  --render FILE             only rewrite docs/benchmarks/ (report and plots) from the results FILE
  --out DIR                 write the results file, the report and the plots into DIR instead of
                            bench/results/ and docs/benchmarks/ (e.g. a smoke run)

Writes bench/results/<date>.json, docs/benchmarks/README.md and the plots beside it. Everything runs in
kpt- network namespaces of its own, torn down at the end.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'skip-guest': { type: 'boolean', default: false },
      sections: { type: 'string', default: SECTIONS.join(',') },
      'from-source': { type: 'boolean', default: false },
      'iptables-backend': { type: 'string', default: 'legacy' },
      render: { type: 'string' },
      merge: { type: 'string' },
      modes: { type: 'string' },
      sizes: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  if (values.help) {
    log(USAGE);
    return;
  }
  const out = values.out === undefined ? undefined : resolve(values.out);
  if (values.render !== undefined) {
    const results = JSON.parse(await readFile(values.render, 'utf8')) as BenchResults;
    for (const f of await writeReport(results, resolve(values.render), false, out ?? DOCS_DIR))
      log(`wrote ${relative(ROOT, f)}`);
    return;
  }
  const scope: MergeScope = {
    modes: values.modes === undefined ? undefined : parseListOption('--modes', values.modes),
    sizes: values.sizes === undefined ? undefined : parseListOption('--sizes', values.sizes),
  };
  const backend = values['iptables-backend'];
  if (backend !== 'legacy' && backend !== 'nft')
    throw new Error(`Invalid --iptables-backend: ${backend} (legacy or nft)`);
  const sections = new Set<Section>();
  for (const name of values.sections.split(',').filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(name)) {
      throw new Error(`Invalid --sections: "${name}" (any of ${SECTIONS.join(', ')})`);
    }
    sections.add(name as Section);
  }
  if (values['skip-guest']) sections.delete('guest');
  const base =
    values.merge === undefined
      ? undefined
      : (JSON.parse(await readFile(values.merge, 'utf8')) as BenchResults);
  if (base !== undefined && base.quick !== values.quick) {
    throw new Error(
      `Cannot merge a ${values.quick ? 'quick' : 'full'} run into a ${base.quick ? 'quick' : 'full'} one`,
    );
  }
  const later = await runBench({
    quick: values.quick,
    sections,
    fromSource: values['from-source'],
    iptablesBackend: backend,
    modes: scope.modes === undefined ? undefined : new Set(scope.modes),
    sizes: scope.sizes,
    log,
  });
  const results = base === undefined ? later : mergeResults(base, later, sections, scope);
  const name = `${results.date.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`;
  const file =
    values.merge !== undefined
      ? out === undefined
        ? resolve(values.merge)
        : join(out, basename(values.merge))
      : join(out ?? RESULTS_DIR, name);
  for (const f of await writeReport(results, file, true, out ?? DOCS_DIR)) log(`wrote ${relative(ROOT, f)}`);
  log('headline (ratios to a direct connection, same run):');
  for (const line of headlineRatios(results)) log(`  ${line}`);
  log(`targets of the nftables mode (issue 14; host; ${TARGET_MODES.join(' | ')}):`);
  for (const row of targetRows(results)) {
    log(
      `  ${row.what} (${row.goal}): ${TARGET_MODES.map((m) => formatTargetCell(row.cells.get(m)!)).join(' | ')}`,
    );
  }
  log(`done in ${Math.round(later.durationMs / 1000)} s`);
}

if (isMainModule(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
