/**
 * The chaos report: docs/reliability.json (every run's figures) and docs/reliability.md (a table fault ×
 * mode, then a paragraph per fault), both from the same values, so the two never disagree.
 *
 * @module
 */
import type { Outage, TrafficFigures } from './outages.ts';
import {
  CHAOS_MODES,
  type ChaosMode,
  FAULT_INFO,
  FAULTS,
  type FaultName,
  type PhaseTimes,
} from './schedule.ts';

/** What one fault × mode run gave. */
export interface ChaosRunResult {
  readonly mode: ChaosMode;
  readonly fault: FaultName;
  /** Run with the short phases of `--quick`. */
  readonly quick: boolean;
  /** `--iptables-sync-period` kproxy ran with (ms). */
  readonly syncPeriodMs: number;
  /** The iptables backend kproxy ran with (undefined when the run failed before it was chosen). */
  readonly backend: string | undefined;
  /** `Date.now()` when the fault began. */
  readonly faultAt: number | undefined;
  /** How long injecting the fault took (its own phase, a restart included). */
  readonly faultMs: number | undefined;
  readonly times: PhaseTimes;
  readonly tcp: TrafficFigures | undefined;
  readonly udp: TrafficFigures | undefined;
  /** The first outages of the TCP traffic (all of them are counted in the figures). */
  readonly tcpOutages: readonly Outage[];
  /** The first outages of the UDP traffic. */
  readonly udpOutages: readonly Outage[];
  /** When each step of the fault happened, ms after its start. */
  readonly marks: Readonly<Record<string, number>>;
  /** TCP connections each backend answered. */
  readonly backends: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
  /** Why the run could not be measured. */
  readonly error: string | undefined;
}

/** A run that was not made, and why. */
export interface SkippedRun {
  readonly mode: ChaosMode;
  readonly fault: FaultName;
  readonly reason: string;
}

/** docs/reliability.json. */
export interface ChaosReport {
  readonly generatedAt: string;
  /** The command lines that made it (more than one when runs were merged with `--merge`). */
  readonly commands: readonly string[];
  /** True when the runs do not cover every fault in every mode that runs here with full phases. */
  readonly partial: boolean;
  /** How long the runs took (ms), summed over the commands. */
  readonly durationMs: number;
  readonly machine: string;
  readonly runs: readonly ChaosRunResult[];
  readonly skipped: readonly SkippedRun[];
}

/** A count for the report ('?' for a figure an older report did not have). */
const number = (n: number | undefined) => (n === undefined ? '?' : n.toLocaleString('en-US'));

function reasons(r: Readonly<Record<string, number>>): string {
  const entries = Object.entries(r).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length === 0 ? '' : entries.map(([k, v]) => `${k} ×${number(v)}`).join(', ');
}

function recover(f: TrafficFigures): string {
  return f.recoverMs === null ? 'not recovered' : `${number(f.recoverMs)}`;
}

/**
 * The cells of one run's table row: TCP and UDP figures.
 *
 * @param run a run
 * @returns the cells after fault and mode
 * @example rowCells(run) // ['30,712', '0', '0', '0', '', '2,100', '0', '0', '0', '']
 */
export function rowCells(run: ChaosRunResult): string[] {
  if (run.error !== undefined || run.tcp === undefined) {
    const why = `${run.error ?? 'no figures'}`.replace(/\|/g, '/').slice(0, 200);
    return ['error', '', '', '', '', why, '', '', '', ''];
  }
  const t = run.tcp;
  const u = run.udp;
  return [
    number(t.tried),
    number(t.failed),
    number(t.longestInterruptionMs),
    recover(t),
    number(t.failedAfterBack),
    reasons(t.reasons),
    u === undefined ? '' : number(u.tried),
    u === undefined ? '' : number(u.failed),
    u === undefined ? '' : number(u.longestInterruptionMs),
    u === undefined ? '' : recover(u),
  ];
}

/** One sentence on what a run showed, for the fault's paragraph. */
export function runSentence(run: ChaosRunResult): string {
  if (run.error !== undefined || run.tcp === undefined) return `${run.mode}: not measured (${run.error}).`;
  const t = run.tcp;
  const parts = [`${run.mode}: TCP ${number(t.failed)} of ${number(t.tried)} failed`];
  if (t.failed > 0) {
    const end =
      t.recoverMs === null
        ? 'still failing at the end'
        : `recovered ${number(t.recoverMs)} ms after the fault began`;
    parts.push(`longest interruption ${number(t.longestInterruptionMs)} ms, ${end} (${reasons(t.reasons)})`);
    if (t.failedAfterBack > 0) {
      const later = number(t.outagesAfterFault - 1);
      parts.push(
        `${number(t.failedAfterBack)} of the failures came after the service was first back, in ${later} later interruptions`,
      );
    }
  }
  if (run.udp !== undefined) {
    const u = run.udp;
    parts.push(
      `UDP ${number(u.failed)} of ${number(u.tried)} failed${u.failed > 0 ? ` (${reasons(u.reasons)}; longest ${number(u.longestInterruptionMs)} ms)` : ''}`,
    );
  }
  if (t.failedBeforeFault > 0) parts.push(`${t.failedBeforeFault} TCP failures came before the fault`);
  if (run.notes.length > 0) parts.push(run.notes.join('; '));
  return `${parts.join('; ')}.`;
}

/** What we understand of each fault's outcome: why it goes as it does (kept beside the figures). */
export const FAULT_WHY: Readonly<Record<FaultName, string>> = {
  kill9:
    "The kernel keeps a killed kproxy's rules (iptables, nftables, ipvs), so connections go on while it is away and the restarted kproxy finds them in place. The userspace mode is different: its relay *is* the data path, so nothing serves until the new process listens again (about 0.5-1 s here, mostly Node and tsx starting). Its portal rules stay behind, and KUBE-PORTALS-GUARD drops (instead of the kernel refusing) the first packet of a connection to a proxy port nobody listens on: the client's TCP retransmits its SYN 1 s later and the restarted relay takes it. This client gives up after 1 s, about when that retransmit goes out, so it still counts one or two TIMEOUTs per restart (before the guard: ~50 ECONNREFUSED); a run with `--attempt-timeout 3s` shows what a client that waits longer sees (docs/userspace-mode.md, Restarts). A connection the old process was relaying dies with it. After the restart, connection-tracking entries of connections the old relay served still point at its old proxy ports; the new relay deletes them at its first sync (src/modes/userspace/stale_redirects.ts), so a client reusing a source port is not refused.",
  sigterm:
    'Every mode leaves its rules in place on a graceful stop, as kube-proxy does. The userspace relay stops accepting at once and finishes the connections it relays; until the new process listens, new connections are held by KUBE-PORTALS-GUARD as after kill -9 (the outage is the stop plus the start). Before, the userspace mode removed its portal rules on stop, so the VIP was unclaimed (~80 EHOSTUNREACH per restart) until the new process had synced.',
  'rolling-update':
    'A terminating endpoint that still serves is used only when no ready endpoint is left, so pod0 stops getting connections when it turns terminating, well before it is removed and its server is killed (the note says when it last answered).',
  'backend-dies':
    'Nobody tells kproxy: the endpoint stays in the rules, and the connections the rules send there are refused (about a third: one backend of three) until the server is back. kube-proxy does the same; readiness probes and the EndpointSlice controller are what remove such a pod. The userspace relay retries a refused connect on another backend, so its TCP clients hardly notice; its UDP relay sends a request a dead backend answers with port-unreachable to another backend and passes over that backend for 2 s (the kernel sends about one ICMP error a second, so most requests to a dead server get none).',
  'flush-rules':
    "kproxy notices at once: between syncs it checks, every 500 ms (`--rules-check-period`), a canary and the first rules a packet to a service meets (the jumps into KUBE-SERVICES or KUBE-PORTALS-*, the dispatch chain's last planned rule, the nftables mode's hooked chains), and a damaged ruleset gets a full sync at once, whatever the min sync period; a periodic full resync checks the same first. After such a repair kproxy also deletes the connection-tracking entries the outage left without NAT (to a service address, replied by the address itself), which later connections from the same client port would otherwise reuse and fail on for up to two minutes (what upstream kube-proxy suffers, and what this run measured before the repair and the heal: failures in bursts for the rest of the run). The nftables mode's filter chains reject a packet the flushed dispatch chain no longer DNATs (ECONNREFUSED), the others' packets find no route (EHOSTUNREACH). In the ipvs mode the harness removes the service addresses from kube-ipvs0 instead (its KUBE-SERVICES holds only masquerade marks, which this client's connections do not need): a packet to the VIP is then no longer local, so IPVS never sees it; the integrity check finds the first or last VIP no longer local (a route lookup each) and the repair binds them again.",
  'wipe-table':
    "As flushing its rules, but the base chains and jumps go too; the integrity check sees the canary or the jumps gone, the repair recreates them all and heals connection tracking as above. In the ipvs mode the wiped table is IPVS's: every virtual server goes while the VIP stays on kube-ipvs0, so the node itself refuses connections to it (ECONNREFUSED) until kproxy recreates the virtual servers.",
  'xtables-lock':
    'Every iptables call waits for the lock at most 5 s (`-w 5`); held for 6 s, the sync that wanted it failed ("Can\'t lock /run/xtables.lock", in the canary check) and was retried after the lock was free. The rules in the kernel stay as they were meanwhile, so traffic is not affected; only the change is late.',
  'api-outage':
    'kproxy keeps the rules it has while its source is away, so traffic is not affected. The change made meanwhile (pod0 removed) arrives only when the client reconnects: it retries with exponential backoff (0.8 s doubling to at most 30 s, with jitter, as client-go), so after a 30 s outage it may take up to about 30 s more; the note says when pod0 last answered.',
  'endpoint-churn':
    "Changes of other services only make syncs more frequent (at most one per min sync period) and larger; the probed service's rules are rewritten atomically, so its traffic should not notice.",
  'fuzz-manifests':
    "Bad objects are reported and ignored, the good ones kept; nothing a file says broke the probed service's rules. Half-written files are read too (the fuzzer writes in place). What the fuzzed objects cost shows in the syncs: the longest took several seconds (notes), against well under one second in the other runs; which objects make a sync slow is not investigated yet.",
};

function syncPeriods(report: ChaosReport): string {
  const periods = [...new Set(report.runs.map((r) => r.syncPeriodMs))].sort((a, b) => a - b);
  return periods.length === 0 ? '2000ms' : periods.map((p) => `${p}ms`).join(' / ');
}

/**
 * Covers every fault in every mode that runs here with full phases?
 *
 * @param runs the runs
 * @param skipped the runs not made
 * @param modes the modes that run here
 * @returns true when nothing is missing and no run used `--quick` or failed
 * @example isComplete(report.runs, report.skipped, ['userspace', 'iptables', 'nftables'])
 */
export function isComplete(
  runs: readonly ChaosRunResult[],
  skipped: readonly SkippedRun[],
  modes: readonly ChaosMode[],
): boolean {
  return modes.every((mode) =>
    FAULTS.every(
      (fault) =>
        skipped.some((s) => s.mode === mode && s.fault === fault) ||
        runs.some((r) => r.mode === mode && r.fault === fault && !r.quick && r.error === undefined),
    ),
  );
}

/**
 * Adds new runs to an earlier report's: a new run replaces the earlier one of the same fault and mode.
 *
 * @param earlier the runs and skips of the earlier report
 * @param later the new ones
 * @returns the merged runs and skips, in catalogue order (mode, then fault)
 * @example mergeRuns({ runs: old.runs, skipped: old.skipped }, { runs, skipped })
 */
export function mergeRuns(
  earlier: { readonly runs: readonly ChaosRunResult[]; readonly skipped: readonly SkippedRun[] },
  later: { readonly runs: readonly ChaosRunResult[]; readonly skipped: readonly SkippedRun[] },
): { runs: ChaosRunResult[]; skipped: SkippedRun[] } {
  const key = (r: { mode: string; fault: string }) => `${r.mode}/${r.fault}`;
  const replaced = new Set([...later.runs, ...later.skipped].map(key));
  const order = (r: { mode: ChaosMode; fault: FaultName }) =>
    CHAOS_MODES.indexOf(r.mode) * 100 + FAULTS.indexOf(r.fault);
  const byOrder = <T extends { mode: ChaosMode; fault: FaultName }>(a: T, b: T) => order(a) - order(b);
  return {
    runs: [...earlier.runs.filter((r) => !replaced.has(key(r))), ...later.runs].sort(byOrder),
    skipped: [...earlier.skipped.filter((r) => !replaced.has(key(r))), ...later.skipped].sort(byOrder),
  };
}

/**
 * The report's "Generated ..." sentence: the one command when there is one; for a report merged from
 * several runs (`--merge`), how many and the latest, since every command line is in the JSON.
 *
 * @param report the report
 * @returns one sentence
 * @example provenance({ ...report, commands: ['npm run chaos'] }) // 'Generated … by `npm run chaos` in 60 s on …'
 */
export function provenance(report: ChaosReport): string {
  const seconds = `${number(Math.round(report.durationMs / 1000))} s`;
  const last = report.commands.at(-1) ?? 'npm run chaos';
  if (report.commands.length <= 1)
    return `Generated ${report.generatedAt} by \`${last}\` in ${seconds} on ${report.machine}.`;
  return `Generated ${report.generatedAt} on ${report.machine}, merged from ${report.commands.length} runs of \`npm run chaos\` (\`--merge\`; ${seconds} in all), the latest \`${last}\`; every command line is in [reliability.json](reliability.json) (\`commands\`).`;
}

/**
 * docs/reliability.md.
 *
 * @param report the report
 * @returns Markdown
 * @example renderMarkdown(report)
 */
export function renderMarkdown(report: ChaosReport): string {
  const out: string[] = [];
  out.push('# Reliability under faults (`npm run chaos`)', '');
  if (report.partial) {
    out.push(
      `> **Partial run.** Not every fault ran in every mode with full phases: rows marked * had short phases (\`--quick\`), rows that say "error" could not be measured, and "Not measured" lists the rest. Re-run \`npm run chaos\` (as root) for the full table.`,
      '',
    );
  }
  out.push(
    `${provenance(report)}${report.runs.some((r) => r.quick) ? ' Runs marked * used `--quick` (short phases: 1 s warm-up, faults of at most 8 s, 3-6 s settling).' : ''}`,
    '',
    "Method: a lab of network namespaces (src/lab: a node, a client, three pods with identity servers; every name `kpt-`, addresses in 198.18.0.0/15), kproxy in the node namespace on one service (TCP 80 and UDP 53 to the pods' port 9000, VIP 198.19.0.10), and steady traffic from the client: sequential new TCP connections (each reads the backend's banner line) and, beside them, sequential UDP request/replies from fresh sockets; every attempt gives up after 1 s. " +
      `kproxy runs with \`--iptables-sync-period ${syncPeriods(report)}\` and the default min sync period (1 s), in a private mount namespace with its own /run (its own xtables lock). ` +
      'Each run is a fresh lab: warm-up, the fault, then settling; the figures count every attempt of the run. ' +
      "The attempt rates (a few hundred to a few thousand a second) depend on how busy the host is (it is shared; other work ran beside these runs), so the tried counts differ between runs; what compares is what failed, and for how long. The ipvs mode runs in an emulated guest kernel, at a small fraction of the host's rates.",
    '',
    '- **tried / failed**: attempts and failed attempts (TCP connections or UDP request/replies).',
    '- **longest interruption**: the longest time from the last success before a failure to the first success after it (ms).',
    '- **recover**: from the start of the fault to the end of the last interruption (ms); 0 when nothing failed; "not recovered" when the last attempts failed.',
    '- **failed once back**: failures after the service first came back from the fault (in later interruptions).',
    '',
    '| fault | mode | TCP tried | TCP failed | TCP longest (ms) | TCP recover (ms) | TCP failed once back | TCP failure reasons | UDP tried | UDP failed | UDP longest (ms) | UDP recover (ms) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  );
  for (const fault of FAULTS) {
    for (const run of report.runs.filter((r) => r.fault === fault)) {
      const mode = `${run.mode}${run.quick ? '*' : ''}`;
      out.push(`| ${FAULT_INFO[fault].title} | ${mode} | ${rowCells(run).join(' | ')} |`);
    }
  }
  out.push('', '## The faults', '');
  for (const fault of FAULTS) {
    const runs = report.runs.filter((r) => r.fault === fault);
    const skipped = report.skipped.filter((s) => s.fault === fault);
    if (runs.length === 0 && skipped.length === 0) continue;
    out.push(`### ${FAULT_INFO[fault].title} (\`${fault}\`)`, '');
    out.push(`What the harness does: ${FAULT_INFO[fault].what}`, '');
    if (runs.length > 0) out.push(`What happened: ${runs.map(runSentence).join(' ')}`, '');
    out.push(`Why: ${FAULT_WHY[fault]}`, '');
  }
  if (report.skipped.length > 0) {
    out.push('## Not measured', '');
    const byReason = new Map<string, string[]>();
    for (const s of report.skipped) {
      const key = `${s.mode}: ${s.reason}`;
      byReason.set(key, [...(byReason.get(key) ?? []), s.fault]);
    }
    for (const [key, faults] of byReason) out.push(`- ${key} (${faults.join(', ')})`);
    out.push('');
  }
  out.push(
    '## Running it',
    '',
    "`npm run chaos` (as root) runs every fault in the userspace, iptables and nftables modes on this host, and in the ipvs mode inside the qemu guest (docs/guest-kernel.md; the host kernel has no IPVS): about 20 minutes on the host (each run is a fresh lab, 25-90 s) plus the guest's share, several times slower under emulation. Options:",
    '',
    '- `--quick`: short phases (about 15 s a run) and only the iptables mode unless `--modes` says otherwise: about 3 minutes.',
    '- `--modes userspace,iptables,nftables,ipvs` and `--faults kill9,flush-rules,...`: a subset.',
    '- `--merge`: keep the runs of other faults and modes from the existing reliability.json (a run made in parts); `--render`: rewrite this page from the JSON.',
    "- `--sync-period 2s`: kproxy's `--iptables-sync-period` (and `--ipvs-sync-period`).",
    '',
    'The figures of every run, with its first interruptions, are in [reliability.json](reliability.json).',
    '',
  );
  return out.join('\n');
}
