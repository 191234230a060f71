/**
 * Control-plane probe of a kernel mode (not a test): plan, render and apply N services × E endpoints with
 * the mode's real Proxier into a fresh `kpt-` network namespace, then one-endpoint changes as partial syncs,
 * then a periodic full sync over the programmed rules. Prints one JSON line per size and a table. Needs
 * root (and iptables or nft); the namespace is deleted at the end (also on failure), each sync is bounded
 * by --timeout. `npm run bench` runs it for the iptables mode (section iptables-scale,
 * scenarios/iptables_scale_child.ts). It replaces bench/iptables-scale.ts and bench/nftables-scale-probe.ts,
 * which were the same probe twice.
 *
 * Usage: node --import tsx bench/control-plane-probe.ts --mode iptables|nftables [--sizes 1000,5000,10000]
 *          [--endpoints 10] [--backend legacy|nft] [--partials 5] [--timeout 300] (--help for details)
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { ProxyMode } from '../src/contracts/proxy_mode.ts';
import type { SyncOptions, SyncReport } from '../src/contracts/sync.ts';
import { createExec, type Exec, mustExec } from '../src/kernel/exec.ts';
import { iptablesFor } from '../src/kernel/iptables.ts';
import { renderRestore } from '../src/kernel/iptables_restore.ts';
import { createNft } from '../src/kernel/nft.ts';
import { planOptions } from '../src/model/testing/fixtures.ts';
import type { ProxyState, ServicePortState, StateChange } from '../src/model/types.ts';
import { IptablesProxier, planIptables } from '../src/modes/iptables/index.ts';
import { NftablesProxier, planNftables, renderNftablesPlan } from '../src/modes/nftables/index.ts';
import { syntheticServicePort } from './scenarios/service_ports.ts';

const USAGE = `Usage: node --import tsx bench/control-plane-probe.ts --mode iptables|nftables [options]
(root; works in kpt-probe-* namespaces)

  --mode M          iptables or nftables (required)
  --sizes LIST      services per run, comma-separated (default 1000,5000,10000)
  --endpoints N     remote endpoints per service (default 10)
  --backend B       the iptables mode's backend: legacy or nft (default legacy; unused by nftables)
  --partials N      one-endpoint changes timed after the full sync (default 5)
  --timeout S       limit per sync, seconds (default 300)

Prints one JSON line per size, then a table. Sync times are the Proxier's (plan + kernel tool calls, as the
sync-duration metric sees them); the per-call times (kernelCallsMs) show the kernel's share. Every tool runs
through \`ip netns exec\`, which a daemon in the node's namespace does not pay: netnsExecMs is its cost
(median of 5 \`ip netns exec NS true\`), paid about twice per partial sync.`;

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    sizes: { type: 'string', default: '1000,5000,10000' },
    endpoints: { type: 'string', default: '10' },
    backend: { type: 'string', default: 'legacy' },
    partials: { type: 'string', default: '5' },
    timeout: { type: 'string', default: '300' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const mode = values.mode;
if (mode !== 'iptables' && mode !== 'nftables') {
  console.error(`Invalid --mode: ${mode ?? '(none)'} (iptables or nftables)\n\n${USAGE}`);
  process.exit(2);
}
const sizes = values.sizes.split(',').map(Number);
const perService = Number(values.endpoints);
const backend = values.backend === 'nft' ? 'nft' : 'legacy';
const partials = Number(values.partials);
const timeoutMs = Number(values.timeout) * 1000;

/** The synthetic set: VIPs 172.30.0.0/15 and pods 10.128.0.0/9, only ever rule text here. */
function service(i: number, generation = 0): ServicePortState {
  return syntheticServicePort(i, perService, generation);
}

/** Ordered by key, as the tracker hands states to the Proxier. */
function stateOf(ports: readonly ServicePortState[], version: number): ProxyState {
  const sorted = [...ports].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { version, nodeName: 'bench', servicePorts: new Map(sorted.map((p) => [p.key, p])) };
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

const options = planOptions({ nodeName: 'bench', nodeIPs: ['198.18.0.1'], clusterCIDRs: ['10.128.0.0/9'] });

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

/** One kernel tool call of a sync and how long it took. */
interface KernelCall {
  readonly what: string;
  readonly ms: number;
}

/**
 * The real kernel seam, every call timed, so that the kernel's share of a sync is visible. A call is named
 * by its method and, when it is a table name, its first argument (`restore-nat`, `apply`).
 */
function timedSeam<T extends object>(real: T, calls: KernelCall[]): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(real)) {
    if (typeof value !== 'function') {
      out[key] = value;
      continue;
    }
    out[key] = async (...args: unknown[]) => {
      const t = performance.now();
      try {
        return await (value as (...a: unknown[]) => unknown).apply(real, args);
      } finally {
        const first = args[0];
        const named = typeof first === 'string' && /^[\w-]{1,16}$/.test(first) ? `-${first}` : '';
        calls.push({ what: `${key}${named}`, ms: performance.now() - t });
      }
    };
  }
  return out as T;
}

/** What the probe needs of a mode: its plan and render, its Proxier on a timed seam, and its own figures. */
interface ProbedMode {
  /** Plans and renders the state as a full sync would; returns the rendered input. */
  planAndRender(state: ProxyState): { planMs: number; renderMs: number; text: string };
  readonly proxier: {
    sync(state: ProxyState, change: StateChange, options?: SyncOptions): Promise<SyncReport>;
  };
  /** Figures only this mode has, read from the kernel after the syncs. */
  extraFigures(): Promise<Record<string, number | string>>;
}

function probedMode(m: ProxyMode, exec: Exec, calls: KernelCall[]): ProbedMode {
  const logger = pino({ level: 'silent' });
  if (m === 'iptables') {
    const proxier = new IptablesProxier(
      { options, exec, logger, iptablesBackend: backend },
      { iptables: timedSeam(iptablesFor(exec, backend), calls) },
    );
    return {
      planAndRender(state) {
        const t0 = performance.now();
        const plan = planIptables(state, options);
        const t1 = performance.now();
        const text = renderRestore(plan.tables);
        return { planMs: t1 - t0, renderMs: performance.now() - t1, text };
      },
      proxier,
      async extraFigures() {
        const nat = await iptablesFor(exec, backend).save('nat');
        return { backend, natRulesInKernel: nat.split('\n').filter((l) => l.startsWith('-A')).length };
      },
    };
  }
  const proxier = new NftablesProxier(
    { options, exec, logger, iptablesBackend: 'auto' },
    { nft: timedSeam(createNft(exec), calls) },
  );
  return {
    planAndRender(state) {
      const t0 = performance.now();
      const plan = planNftables(state, options);
      const t1 = performance.now();
      const text = renderNftablesPlan(plan);
      return { planMs: t1 - t0, renderMs: performance.now() - t1, text };
    },
    proxier,
    extraFigures: async () => ({}),
  };
}

const root = createExec();
const rows: Record<string, number | string>[] = [];
let sequence = 0;
for (const n of sizes) {
  const ns = `kpt-probe-${process.pid % 10000}-${++sequence}`;
  await mustExec(root, 'ip', ['netns', 'add', ns]);
  try {
    const exec = createExec({ netns: ns });
    const calls: KernelCall[] = [];
    const probed = probedMode(mode, exec, calls);
    let ports = Array.from({ length: n }, (_, i) => service(i));
    const state = stateOf(ports, 1);
    const rendered = probed.planAndRender(state);
    const heap = process.memoryUsage();
    const drain = () => calls.splice(0);
    const callsText = (cs: readonly KernelCall[]) => cs.map((c) => `${c.what} ${Math.round(c.ms)}`).join(' ');
    const kernelMs = (cs: readonly KernelCall[]) => cs.reduce((sum, c) => sum + c.ms, 0);

    const t2 = performance.now();
    const full = await withTimeout('full sync', probed.proxier.sync(state, change([])));
    const fullMs = performance.now() - t2;
    const fullCalls = drain();

    // One endpoint of one service changes, `partials` times (a different service each time).
    const partialMs: number[] = [];
    const partialKernelMs: number[] = [];
    let lastPartial: SyncReport | undefined;
    let lastPartialCalls: KernelCall[] = [];
    let version = 1;
    for (let k = 1; k <= partials; k++) {
      const i = Math.floor((n * k) / (partials + 1));
      const changed = service(i, k);
      ports = ports.map((p, idx) => (idx === i ? changed : p));
      const t = performance.now();
      const r = await withTimeout(
        'partial sync',
        probed.proxier.sync(stateOf(ports, ++version), change([changed.key])),
      );
      partialMs.push(performance.now() - t);
      lastPartialCalls = drain();
      partialKernelMs.push(kernelMs(lastPartialCalls));
      if (r.kind !== 'partial') throw new Error(`Expected a partial sync, got ${r.kind}`);
      lastPartial = r;
    }

    // The periodic resync: a full sync over rules that are all in place already.
    const t3 = performance.now();
    await withTimeout(
      'periodic full sync',
      probed.proxier.sync(stateOf(ports, ++version), change([]), { full: true }),
    );
    const periodicMs = performance.now() - t3;
    drain();

    const netnsExec: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t = performance.now();
      await mustExec(exec, 'true', []);
      netnsExec.push(performance.now() - t);
    }
    const row = {
      mode,
      services: n,
      endpoints: n * perService,
      ...(await probed.extraFigures()),
      planMs: Math.round(rendered.planMs),
      renderMs: Math.round(rendered.renderMs),
      restoreMB: mb(rendered.text.length),
      restoreLines: full.restoreLines,
      fullSyncMs: Math.round(fullMs),
      fullSyncKernelMs: Math.round(kernelMs(fullCalls)),
      partialSyncMsMedian: Math.round(median(partialMs)),
      partialSyncMsMax: Math.round(Math.max(...partialMs)),
      partialKernelMsMedian: Math.round(median(partialKernelMs)),
      partialRestoreBytes: lastPartial?.restoreBytes ?? 0,
      partialRestoreLines: lastPartial?.restoreLines ?? 0,
      periodicFullSyncMs: Math.round(periodicMs),
      fullSyncKernelCallsMs: callsText(fullCalls),
      lastPartialKernelCallsMs: callsText(lastPartialCalls),
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
