/**
 * Scale benchmark of the iptables mode (not a test): plan, render and apply N services × E endpoints
 * into a fresh network namespace, then a one-endpoint change as a partial sync. Prints one JSON line per
 * size and a table. Needs root; everything happens in a `kpt-bench-*` namespace that is deleted at the
 * end (also on failure). Each sync is bounded by --timeout.
 *
 * Usage: node --import tsx bench/iptables-scale.ts [--sizes 1000,5000,10000] [--endpoints 10]
 *          [--backend legacy|nft] [--partials 5] [--timeout 300] (--help for details)
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { PlanOptions } from '../src/contracts/plan_options.ts';
import { createExec, mustExec } from '../src/kernel/exec.ts';
import { type Iptables, iptablesFor } from '../src/kernel/iptables.ts';
import { renderRestore } from '../src/kernel/iptables_restore.ts';
import { endpoint, planOptions } from '../src/model/testing/fixtures.ts';
import type { Endpoint, ProxyState, ServicePortState, StateChange } from '../src/model/types.ts';
import { IptablesProxier, planIptables } from '../src/modes/iptables/index.ts';
import { clusterIpServicePort } from './scenarios/service_ports.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,5000,10000' },
    endpoints: { type: 'string', default: '10' },
    backend: { type: 'string', default: 'legacy' },
    partials: { type: 'string', default: '5' },
    timeout: { type: 'string', default: '300' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`Usage: node --import tsx bench/iptables-scale.ts [options]   (root; works in kpt-bench-* namespaces)

  --sizes LIST      services per run, comma-separated (default 1000,5000,10000)
  --endpoints N     remote endpoints per service (default 10)
  --backend B       legacy or nft (default legacy)
  --partials N      one-endpoint changes timed after the full sync (default 5)
  --timeout S       limit per sync, seconds (default 300)

Prints one JSON line per size, then a table. Sync times are the Proxier's (plan + canary check + restore,
as the sync-duration metric sees them); the per-call times show the kernel's share. Every tool runs
through \`ip netns exec\`, which a daemon in the node's namespace does not pay: netnsExecMs is its cost
(median of 5 \`ip netns exec NS true\`), paid about twice per partial sync.`);
  process.exit(0);
}
const sizes = values.sizes.split(',').map(Number);
const perService = Number(values.endpoints);
const backend = values.backend === 'nft' ? 'nft' : 'legacy';
const partials = Number(values.partials);
const timeoutMs = Number(values.timeout) * 1000;

/** 10.x addresses for VIPs (172.30.0.0/15) and pods (10.128.0.0/9) are only ever rule text here. */
function remoteEndpoint(i: number, j: number, port: number): Endpoint {
  const n = i * perService + j;
  return endpoint({
    ip: `10.${128 + ((n >> 16) & 127)}.${(n >> 8) & 255}.${n & 255}`,
    port,
    nodeName: 'other',
  });
}

function service(i: number, generation = 0): ServicePortState {
  const eps = Array.from({ length: perService }, (_, j) =>
    remoteEndpoint(i, j + (j === 0 ? generation * 7919 : 0), 8080),
  );
  return clusterIpServicePort({
    namespace: 'bench',
    serviceName: `svc-${i}`,
    clusterIPs: [`172.${30 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`],
    port: 80,
    endpoints: eps,
  });
}

function stateOf(ports: readonly ServicePortState[], version: number): ProxyState {
  return { version, nodeName: 'bench', servicePorts: new Map(ports.map((p) => [p.key, p])) };
}

function change(keys: readonly string[]): StateChange {
  return {
    changed: new Set(keys),
    removed: new Set(),
    firstSeen: new Map(),
    serviceEvents: 0,
    endpointEvents: 1,
  };
}

const options: PlanOptions = planOptions({
  nodeName: 'bench',
  nodeIPs: ['198.18.0.1'],
  clusterCIDRs: ['10.128.0.0/9'],
});

function mb(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function withTimeout<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

const root = createExec();
const rows: Record<string, number | string>[] = [];
let sequence = 0;
for (const n of sizes) {
  const ns = `kpt-bench-${process.pid % 10000}-${++sequence}`;
  await mustExec(root, 'ip', ['netns', 'add', ns]);
  try {
    const exec = createExec({ netns: ns });
    const ports = Array.from({ length: n }, (_, i) => service(i));
    const state = stateOf(ports, 1);

    const t0 = performance.now();
    const plan = planIptables(state, options);
    const planMs = performance.now() - t0;
    const t1 = performance.now();
    const text = renderRestore(plan.tables);
    const renderMs = performance.now() - t1;
    const heap = process.memoryUsage();

    // The real seam, timed per call, so that the kernel's share of a sync is visible.
    const real = iptablesFor(exec, backend);
    const calls: string[] = [];
    const timed = <T>(what: string, p: Promise<T>): Promise<T> => {
      const t = performance.now();
      return p.finally(() => calls.push(`${what} ${Math.round(performance.now() - t)}`));
    };
    const ipt: Iptables = {
      backend,
      restore: (table, input, o) => timed(`restore-${table}`, real.restore(table, input, o)),
      save: (table) => timed(`save-${table ?? 'all'}`, real.save(table)),
      chainExists: (table, chain) => timed(`check-${table}`, real.chainExists(table, chain)),
      version: () => real.version(),
      ensureRule: (rule, position) => timed(`ensure-${rule.table}`, real.ensureRule(rule, position)),
      deleteRule: (rule) => timed(`delete-${rule.table}`, real.deleteRule(rule)),
      deleteChain: (table, chain) => timed(`delete-chain-${table}`, real.deleteChain(table, chain)),
    };
    const proxier = new IptablesProxier(
      { options, exec, logger: pino({ level: 'silent' }), iptablesBackend: backend },
      { iptables: ipt },
    );
    const t2 = performance.now();
    const full = await withTimeout('full sync', proxier.sync(state, change([])));
    const fullMs = performance.now() - t2;
    const fullCalls = calls.splice(0).join(' ');

    // One endpoint of one service changes, `partials` times (a different service each time).
    const partialMs: number[] = [];
    let partialBytes = 0;
    let partialLines = 0;
    let partialCalls = '';
    let current = ports;
    for (let k = 1; k <= partials; k++) {
      const i = Math.floor((n * k) / (partials + 1));
      const changed = service(i, k);
      current = current.map((p, idx) => (idx === i ? changed : p));
      const t = performance.now();
      const r = await withTimeout(
        'partial sync',
        proxier.sync(stateOf(current, k + 1), change([changed.key])),
      );
      partialMs.push(performance.now() - t);
      partialCalls = calls.splice(0).join(' ');
      if (r.kind !== 'partial') throw new Error(`Expected a partial sync, got ${r.kind}`);
      partialBytes = r.restoreBytes;
      partialLines = r.restoreLines;
    }
    const netnsExec: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t = performance.now();
      await mustExec(exec, 'true', []);
      netnsExec.push(performance.now() - t);
    }
    const rules = (await iptablesFor(exec, backend).save('nat'))
      .split('\n')
      .filter((l) => l.startsWith('-A')).length;
    const row = {
      services: n,
      endpoints: n * perService,
      backend,
      natRulesInKernel: rules,
      planMs: Math.round(planMs),
      renderMs: Math.round(renderMs),
      restoreMB: mb(text.length),
      restoreLines: full.restoreLines,
      fullSyncMs: Math.round(fullMs),
      partialSyncMsMedian: Math.round(median(partialMs)),
      partialSyncMsMax: Math.round(Math.max(...partialMs)),
      partialRestoreBytes: partialBytes,
      partialRestoreLines: partialLines,
      fullSyncKernelCallsMs: fullCalls,
      lastPartialKernelCallsMs: partialCalls,
      netnsExecMs: Math.round(median(netnsExec)),
      heapUsedMB: mb(heap.heapUsed),
      rssMB: mb(heap.rss),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  } finally {
    await root('ip', ['netns', 'del', ns]);
  }
}
console.table(rows);
