/**
 * docs/benchmarks/README.md, rendered from a results file alone: the machine and the date, then one
 * section per benchmark section with Markdown tables (medians, spreads, ratios to the baseline measured in
 * the same run) and the plots, and every figure that could not be measured with its reason.
 *
 * @module
 */
import { baselineOf, type ChartFile, type SummaryMetric, targetLabel } from './charts.ts';
import { cell, formatNumber, formatRatio, formatSummary } from './format.ts';
import type { BenchResults, DataPathResult, Place, ScalePoint, ScaleSeries } from './results.ts';
import { addedByRulesUs, directFigures, scaleModeLabel, syncFigure } from './scale_figures.ts';
import { quantile, ratio, type Summary } from './stats.ts';
import { targetRows, targetsTable } from './targets.ts';

/** One row of section 2's table (see its columns there). */
function scaleRow(s: ScaleSeries, p: ScalePoint): string {
  const direct = directFigures(p);
  const before = direct.when === 'before kproxy' ? ' (before kproxy)' : '';
  const spread = `${formatNumber(p.connectUs.median)} (${formatNumber(quantile(p.connectUs.samples, 0.1))}–${formatNumber(quantile(p.connectUs.samples, 0.9))})`;
  const rate = (x: Summary | undefined) => (x === undefined ? '–' : formatSummary(x));
  return (
    `| ${scaleModeLabel(s)} | ${s.place} | ${formatNumber(p.services)} | ${spread} | ` +
    `${direct.when === 'same window' ? formatNumber(direct.connectUs.median) : 'n/a'} | ` +
    `${formatNumber(addedByRulesUs(p))} µs (${formatRatio(ratio(p.connectUs, direct.connectUs))})${before} | ` +
    `${formatNumber(p.baselineConnectUs.median)} | ${rate(p.connectionsPerSecond)} | ` +
    `${rate(direct.connectionsPerSecond)}${direct.connectionsPerSecond === undefined ? '' : before} | ` +
    `${formatRatio(ratio(p.connectionsPerSecond, direct.connectionsPerSecond))} |`
  );
}

/**
 * The headline ratios: each kproxy mode and HAProxy against the direct connection, host first, then the
 * userspace relay against HAProxy (its target) and against HAProxy behind kproxy's portal rules, and that
 * one against HAProxy (what the portal design itself costs).
 *
 * @param results the results
 * @returns one line per comparison, e.g. `kproxy iptables: 0.32× new connections/s, ...`
 */
export function headlineRatios(results: BenchResults): string[] {
  const lines: string[] = [];
  for (const r of results.dataPath) {
    if (r.target === 'direct' || r.status !== 'measured') continue;
    const base = baselineOf(results.dataPath, r.place);
    if (base === undefined) continue;
    const part = (key: SummaryMetric, label: string) =>
      `${formatRatio(ratio(r.metrics[key], base[key]))} ${label}`;
    lines.push(
      `${targetLabel(r)}: ${part('connectionsPerSecond', 'new connections/s')}, ${part('requestsPerSecond', 'requests/s')}, ` +
        `${part('throughputGbps', 'bulk throughput')}, p99 latency ${formatRatio(ratio(r.metrics.latencyP99Ms, base.latencyP99Ms))} of direct`,
    );
  }
  // Issue 3's target for the userspace relay is HAProxy itself. HAProxy behind the same portal rules shows
  // what the portal design costs any relay, apart from the relay.
  for (const place of ['host', 'guest'] as const) {
    const find = (t: string) => results.dataPath.find((r) => r.target === t && r.place === place);
    const pairs = [
      [find('userspace'), find('haproxy')],
      [find('userspace'), find('haproxy-portals')],
      [find('haproxy-portals'), find('haproxy')],
    ] as const;
    for (const [a, b] of pairs) {
      if (a?.status !== 'measured' || b?.status !== 'measured') continue;
      const part = (key: SummaryMetric, label: string) =>
        `${formatRatio(ratio(a.metrics[key], b.metrics[key]))} ${label}`;
      lines.push(
        `${targetLabel(a)} against ${targetLabel(b)}: ${part('connectionsPerSecond', 'new connections/s')}, ` +
          `${part('requestsPerSecond', 'requests/s')}, ${part('throughputGbps', 'bulk throughput')}`,
      );
    }
  }
  return lines;
}

/**
 * Renders the report.
 *
 * @param results the results
 * @param resultsFile the results file's path relative to the repository root
 * @param charts the chart files written beside the report
 * @returns Markdown text
 */
export function renderBenchReadme(
  results: BenchResults,
  resultsFile: string,
  charts: readonly ChartFile[],
): string {
  const m = results.machine;
  const out: string[] = [];
  const chart = (file: string) => {
    const c = charts.find((x) => x.file === file);
    if (c?.hasData === true) out.push('', `![${c.title}](${c.file})`);
  };
  out.push(
    '# kproxy benchmarks',
    '',
    `Latest run: **${results.date}** (${results.quick ? 'quick mode: fewer repetitions, shorter runs, fewer sizes' : 'full mode'}), ` +
      `${Math.round(results.durationMs / 1000)} s, kproxy ${results.kproxyBuild} at ${results.git}. ` +
      `Raw samples: [\`${resultsFile}\`](../../${resultsFile}).` +
      (results.merged ?? [])
        .map(
          (m) =>
            ` Sections ${m.sections.join(', ')} were run again at ${m.date} (load ${m.load}) and merged in.`,
        )
        .join(''),
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, Linux ${m.kernel}, ${m.os}, Node ${m.node}; ` +
      `load average ${m.loadAverage} at the start.` +
      (results.guest === undefined
        ? ''
        : ` Guest: Linux ${results.guest.kernel}, ${results.guest.cpus} vCPU under qemu TCG (software emulation).`),
    '',
    `Tools: ${Object.entries(m.tools)
      .map(([k, v]) => `${k}: \`${v}\``)
      .join('; ')}.`,
    '',
    'Reproduce with `npm run bench` (full) or `npm run bench:quick` (under five minutes), as root. How to read',
    'these numbers: everything (load generator, proxy, backend) shares the same few cores, on a machine shared',
    'with other work, so every figure is the median of repeated runs with its spread (min–max), and comparisons',
    'are ratios to a baseline measured in the same run. Guest figures come from a software-emulated CPU (the',
    "host kernel has no IPVS): they are only comparable with each other, never with the host's.",
    '',
    '## Headline',
    '',
    ...headlineRatios(results).map((l) => `- ${l}`),
    '',
    '## Targets of the nftables mode (issue 14)',
    '',
    'Host figures of this run, nftables beside the iptables mode it is meant to improve on; ratios from one',
    'run, not timed tests. A figure taken at another size than the target states is shown but not judged.',
    "First-packet ratios compare each size's rate as a ratio to direct connections to the same endpoint, taken",
    "in the same time window as the VIP's (batches interleaved after kproxy's sync; section 2's ×direct), so",
    'that the drift of this shared machine between runs minutes apart does not count as the cost of the rules;',
    '"raw" is the same without the direct connections. The direct packets pass the node\'s rules without',
    'matching a service, which costs the iptables mode a walk of KUBE-SERVICES: when the direct figures too got',
    '10 % or more slower with more services, the ratio does not count that walk and is not judged (read the raw',
    'figure and "direct, before kproxy" in section 2). "direct before kproxy" marks figures of older runs,',
    'whose only direct connects were measured before kproxy started.',
    '',
    ...targetsTable(targetRows(results)),
  );

  out.push(
    '',
    '## 1. Data path',
    '',
    `From a client namespace through the node namespace to a backend pod namespace (veth pairs, see \`src/lab/lab.ts\`). ` +
      `Backend: HAProxy answering HTTP itself (1 thread) and an iperf3 server. ` +
      `Targets: a direct connection to the pod (the baseline), HAProxy in TCP mode with one thread in the node, ` +
      `reached at the node's address and (where measured) through a VIP that kproxy's own userspace portal rules ` +
      `redirect to it (what the portal design costs a relay as fast as HAProxy), ` +
      `and kproxy's modes through a ClusterIP${dataPathServices(results)}. The node has connection tracking on for every target (empty ` +
      `nat/filter tables, as on any Kubernetes node); kproxy runs only while its target is measured. ` +
      `wrk: 1 thread, ${results.dataPathSettings.connections} connections, ${results.dataPathSettings.wrkSeconds} s per run, ` +
      `with \`Connection: close\` for new connections/s; iperf3: one TCP stream, ${results.dataPathSettings.iperfSeconds} s. ` +
      `${results.dataPathSettings.repetitions} repetitions, every target visited in each (rotating order).`,
  );
  for (const place of ['host', 'host-ipv6', 'guest'] as const) {
    const rows = results.dataPath.filter((r) => r.place === place);
    if (rows.length === 0) continue;
    const heading =
      place === 'host'
        ? 'Host'
        : place === 'host-ipv6'
          ? 'Host, over IPv6 (the same lab and backend over 2001:2::/48; ratios to the IPv6 direct connection)'
          : 'Guest (qemu TCG: compare within this table only)';
    out.push('', `### ${heading}`, '');
    out.push(...dataPathTable(rows, place, results.dataPath));
  }
  chart('data-path.svg');

  out.push(
    '',
    '## 2. First-packet cost against the number of services',
    '',
    'N ClusterIP services × 10 endpoints each; kproxy programs them all, then the client times sequential TCP',
    "connects (SYN to SYN-ACK, the first packet's walk through the node's rules included) to the last-added",
    "service (its endpoints are the backend pod's extra addresses). Beside it, in the same time window: direct",
    "connects to one of those endpoints, in batches interleaved with the VIP's (rounds of one direct and one",
    'VIP batch, which goes first alternating), so that both medians see the same machine; "added by the rules"',
    "is their difference. The direct packets still pass the node's rules, without matching a service (the",
    'nftables mode: a map lookup; the iptables mode: every rule of KUBE-SERVICES): "direct, before kproxy"',
    '(no rule at all, minutes earlier, so with the drift of a shared machine) shows that share. Older results',
    'have only the direct connects before kproxy: their "same window" column reads n/a, and the difference and',
    'the ratio are taken against the direct connects before kproxy.',
    '',
    'The same runs also time new connections/s to that service with wrk (`Connection: close`, 16',
    'connections), direct and VIP runs interleaved the same way (older results: direct before kproxy):',
    'a CPU-bound figure that shows the per-connection cost of the rules even where single connect',
    "times are dominated by wakeups (the guest's emulated CPU). In the guest a single connect costs",
    'milliseconds of emulated CPU and timer wakeups: a rule walk that costs tens of µs on a real CPU is within',
    "the guest's noise, so read its rows for trends over 100× more services, not for single differences.",
    '',
    '| mode | place | services | VIP connect µs, median (p10–p90) | direct µs, same window | added by the rules | direct µs, before kproxy | new conn/s to the VIP | direct conn/s | ×direct |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const s of results.scale) {
    for (const p of s.points) out.push(scaleRow(s, p));
  }
  chart('first-packet.svg');
  chart('first-packet-guest.svg');
  chart('first-packet-rate.svg');
  chart('first-packet-scaling.svg');

  out.push(
    '',
    '## 3. Control plane',
    '',
    "Syncs (plan + apply through the kernel tools) as the daemon's own sync-duration metrics recorded them",
    '(`kubeproxy_sync_full_proxy_rules_duration_seconds` for the first sync, the histogram of its kind, usually',
    '`kubeproxy_sync_partial_proxy_rules_duration_seconds`, for the one-endpoint change; a figure marked "log" is',
    'the daemon\'s "Synced proxy rules" line instead, the same clock rounded to the millisecond), in the same runs',
    "as section 2, and the daemon's resident memory (it includes the manifest source, which parses every object).",
    '',
    '| mode | place | services × endpoints | first full sync ms | one-endpoint change ms | lines to the kernel tool | RSS MB (peak) |',
    '|---|---|---:|---:|---:|---:|---:|',
  );
  for (const s of results.scale) {
    for (const p of s.points) {
      // What to say in brackets after a sync's figure: its kind (the change), and "log" when it is the log's.
      const sync = (which: 'first' | 'change', ...notes: string[]) => {
        const figure = syncFigure(p, which);
        const all = [...notes, ...(figure.source === 'log' ? ['log'] : [])];
        return `${formatNumber(figure.ms)}${all.length > 0 ? ` (${all.join(', ')})` : ''}`;
      };
      out.push(
        `| ${scaleModeLabel(s)} | ${s.place} | ${formatNumber(p.services)} × ${p.endpointsPerService} | ` +
          `${sync('first')} | ${sync('change', p.changeSyncKind)} | ${formatNumber(p.restoreLines)} | ` +
          `${formatNumber(p.rssMb)} (${formatNumber(p.peakRssMb)}) |`,
      );
    }
  }
  chart('syncs-full.svg');
  chart('syncs-change.svg');
  if (results.plan.length > 0) {
    out.push(
      '',
      "Plan + render alone (the mode's `renderRules`: exactly what `kproxy rules` prints and what is fed to the",
      'kernel tools), pure CPU on the host, each size in a process of its own:',
      '',
      '| mode | services × endpoints | plan + render ms, median (min–max) | output | load manifests ms | state heap MB |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const s of results.plan) {
      for (const p of s.points) {
        out.push(
          `| ${s.mode} | ${formatNumber(p.services)} × ${p.endpointsPerService} | ${formatSummary(p.planMs)} | ` +
            `${formatNumber(p.bytes / 1024)} KiB, ${formatNumber(p.lines)} lines | ${formatNumber(p.loadMs)} | ${formatNumber(p.stateHeapMb)} |`,
        );
      }
    }
  }
  chart('control-plane.svg');
  chart('control-plane-guest.svg');
  if (results.iptablesScale !== undefined && results.iptablesScale.length > 0) {
    out.push(
      '',
      // Rows with a mode come from bench/control-plane-probe.ts, older ones from bench/iptables-scale.ts.
      `The iptables mode's control-plane probe (\`${results.iptablesScale.some((r) => r.mode !== undefined) ? 'bench/control-plane-probe.ts --mode iptables' : 'bench/iptables-scale.ts'}\`: its Proxier straight into an empty`,
      'namespace, no daemon, no manifest parsing; one-endpoint changes as partial syncs), run in the same session:',
      '',
      ...genericTable(results.iptablesScale, IPTABLES_SCALE_COLUMNS),
    );
  }

  out.push(
    '',
    '## Method notes',
    '',
    `- kproxy ran ${results.kproxyBuild === 'source (tsx)' ? 'from its TypeScript sources through tsx' : "compiled by the project's tsc (`.cache/bench-build/`)"}, ` +
      `with \`--iptables-backend ${results.iptablesBackend}\` (issue 4's calibration found iptables-nft-restore far slower for large rulesets; \`bench/run.ts --iptables-backend nft\` measures that backend instead), ` +
      'a 100 ms minimum sync period and no periodic resync during a measurement.',
    '- No namespace keeps TIME_WAIT sockets (`net.ipv4.tcp_max_tw_buckets=0`): one client address opening more than',
    '  10k connections/s reuses its ports within seconds, and a server side in TIME_WAIT would turn that into',
    '  retransmitted SYNs — the benchmark would measure port collisions, not the proxy.',
    '- The node namespace has connection tracking on for every target (empty nat/filter/mangle tables from the',
    '  start), as on any Kubernetes node; after each kproxy run its tables, IPVS table, ipsets and conntrack',
    "  entries are emptied (without relying on the mode's own cleanup).",
    '- The load generator, the proxy and the backend share the same cores: a proxy that uses more CPU also takes',
    '  it from the load generator. The ratios compare setups on this machine, not the limits of each proxy.',
    '- With iptables, every new connection forwarded by the node walks KUBE-SERVICES (one rule per service port)',
    '  before it finds its service or falls through; IPVS looks the virtual server up in a hash table, and',
    "  nftables looks the destination up in one verdict map (kproxy's service-ips map), whatever the number of",
    '  services.',
  );

  const missing = [
    ...results.notMeasured.map((n) => `${n.what}: ${n.reason}`),
    ...results.dataPath
      .filter((r) => r.status === 'not measured')
      .map((r) => `data path, ${targetLabel(r)}: ${r.status === 'not measured' ? r.reason : ''}`),
    ...results.scale.flatMap((s) =>
      s.failures.map((f) => `${s.mode} (${s.place}) at ${formatNumber(f.services)} services: ${f.reason}`),
    ),
    ...results.plan.flatMap((s) =>
      s.failures.map((f) => `plan ${s.mode} at ${formatNumber(f.services)} services: ${f.reason}`),
    ),
  ];
  out.push('', '## Not measured in this run', '');
  out.push(
    ...(missing.length === 0
      ? ['Nothing: every figure above was measured.']
      : missing.map((l) => `- ${cell(l)}`)),
  );
  return `${out.join('\n')}\n`;
}

/** How many services kproxy had in the data path, as a phrase (older results: the measured one alone). */
function dataPathServices(results: BenchResults): string {
  const n = results.dataPathSettings.services;
  return n === undefined || n <= 1
    ? ''
    : ` (one of ${formatNumber(n)} services kproxy programs, the others with unreachable endpoints)`;
}

/** The columns of the control-plane probe worth a table (the rest stays in the results file). */
const IPTABLES_SCALE_COLUMNS = [
  'services',
  'endpoints',
  'backend',
  'planMs',
  'renderMs',
  'restoreMB',
  'restoreLines',
  'fullSyncMs',
  'partialSyncMsMedian',
  'partialSyncMsMax',
  'periodicFullSyncMs',
  'natRulesInKernel',
  'netnsExecMs',
  'heapUsedMB',
];

/**
 * A table of rows of any shape: the wanted columns that at least one row has, in that order.
 *
 * @param rows the rows
 * @param wanted column names
 * @returns Markdown lines
 */
export function genericTable(
  rows: readonly Readonly<Record<string, unknown>>[],
  wanted: readonly string[],
): string[] {
  const columns = wanted.filter((c) => rows.some((r) => r[c] !== undefined));
  const value = (v: unknown) =>
    typeof v === 'number' ? formatNumber(v) : v === undefined ? '' : cell(String(v));
  return [
    `| ${columns.join(' | ')} |`,
    `|${columns.map(() => '---:').join('|')}|`,
    ...rows.map((r) => `| ${columns.map((c) => value(r[c])).join(' | ')} |`),
  ];
}

function dataPathTable(
  rows: readonly DataPathResult[],
  place: Place,
  all: readonly DataPathResult[],
): string[] {
  const base = baselineOf(all, place);
  const lines = [
    '| target | new conn/s | ×direct | req/s keep-alive | ×direct | p50 ms | p99 ms | new-conn p99 ms | bulk Gbit/s | ×direct | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    if (r.status !== 'measured') {
      lines.push(`| ${targetLabel(r)} | not measured: ${cell(r.reason)} ||||||||||`);
      continue;
    }
    const x = r.metrics;
    const rel = (key: SummaryMetric) =>
      formatRatio(base === undefined ? undefined : ratio(x[key], base[key]));
    lines.push(
      `| ${targetLabel(r)} | ${formatSummary(x.connectionsPerSecond)} | ${rel('connectionsPerSecond')} | ` +
        `${formatSummary(x.requestsPerSecond)} | ${rel('requestsPerSecond')} | ${formatSummary(x.latencyP50Ms)} | ` +
        `${formatSummary(x.latencyP99Ms)} | ${formatSummary(x.newConnectionLatencyP99Ms)} | ${formatSummary(x.throughputGbps)} | ` +
        `${rel('throughputGbps')} | ${x.errors} |`,
    );
  }
  return lines;
}
