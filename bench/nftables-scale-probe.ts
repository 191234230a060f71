/**
 * Scale probe of the nftables mode (not a test, not part of `npm run bench`): N services × E endpoints
 * synced by the real Proxier into a fresh `kpt-` network namespace, then one-endpoint changes as partial
 * syncs, then a periodic full sync over the table. Prints one JSON line per size and a table. Needs root
 * and nft; the namespace is deleted at the end (also on failure).
 *
 * Usage: node --import tsx bench/nftables-scale-probe.ts [--sizes 1000,10000] [--endpoints 10] [--partials 9]
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createExec, mustExec } from '../src/kernel/exec.ts';
import { createNft, type Nft } from '../src/kernel/nft.ts';
import { endpoint, planOptions } from '../src/model/testing/fixtures.ts';
import type { Endpoint, ProxyState, ServicePortState, StateChange } from '../src/model/types.ts';
import { NftablesProxier, planNftables, renderNftablesPlan } from '../src/modes/nftables/index.ts';
import { clusterIpServicePort } from './scenarios/service_ports.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000' },
    endpoints: { type: 'string', default: '10' },
    partials: { type: 'string', default: '9' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const perService = Number(values.endpoints);
const partials = Number(values.partials);

function remoteEndpoint(n: number): Endpoint {
  return endpoint({
    ip: `10.${128 + ((n >> 16) & 127)}.${(n >> 8) & 255}.${n & 255}`,
    port: 8080,
    nodeName: 'other',
  });
}

function service(i: number, generation = 0): ServicePortState {
  const eps = Array.from({ length: perService }, (_, j) =>
    remoteEndpoint(i * perService + j + (j === 0 ? generation * 7919 : 0)),
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

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const options = planOptions({ nodeName: 'bench', nodeIPs: ['198.18.0.1'], clusterCIDRs: ['10.128.0.0/9'] });
const root = createExec();
const rows: Record<string, number>[] = [];
for (const n of sizes) {
  const ns = `kpt-nftprobe-${process.pid % 10000}-${n}`;
  await mustExec(root, 'ip', ['netns', 'add', ns]);
  try {
    const exec = createExec({ netns: ns });
    const real = createNft(exec);
    const applyMs: number[] = [];
    const nft: Nft = {
      ...real,
      apply: async (script, o) => {
        const t = performance.now();
        await real.apply(script, o);
        applyMs.push(performance.now() - t);
      },
    };
    let ports = Array.from({ length: n }, (_, i) => service(i));
    const state = stateOf(ports, 1);
    const t0 = performance.now();
    const plan = planNftables(state, options);
    const planMs = performance.now() - t0;
    const t1 = performance.now();
    const script = renderNftablesPlan(plan);
    const renderMs = performance.now() - t1;

    const proxier = new NftablesProxier(
      { options, exec, logger: pino({ level: 'silent' }), iptablesBackend: 'auto' },
      { nft },
    );
    const t2 = performance.now();
    await proxier.sync(state, change([]));
    const fullMs = performance.now() - t2;
    const fullApplyMs = applyMs.splice(0).reduce((a, b) => a + b, 0);

    const partialMs: number[] = [];
    let version = 1;
    for (let k = 1; k <= partials; k++) {
      const i = Math.floor((n * k) / (partials + 1));
      const changed = service(i, k);
      ports = ports.map((p, idx) => (idx === i ? changed : p));
      const next = stateOf(ports, ++version);
      const t = performance.now();
      const r = await proxier.sync(next, change([changed.key]));
      partialMs.push(performance.now() - t);
      if (r.kind !== 'partial') throw new Error(`Expected a partial sync, got ${r.kind}`);
    }
    const partialApplyMs = median(applyMs.splice(0));

    const last = stateOf(ports, ++version);
    const t3 = performance.now();
    await proxier.sync(last, change([]), { full: true });
    const resyncMs = performance.now() - t3;

    const row = {
      services: n,
      endpoints: n * perService,
      planMs: Math.round(planMs),
      renderMs: Math.round(renderMs),
      scriptMB: Math.round((script.length / 1024 / 1024) * 10) / 10,
      scriptLines: script.split('\n').length,
      fullSyncMs: Math.round(fullMs),
      fullSyncNftMs: Math.round(fullApplyMs),
      partialSyncMsMedian: Math.round(median(partialMs)),
      partialSyncMsMax: Math.round(Math.max(...partialMs)),
      partialNftMsMedian: Math.round(partialApplyMs),
      periodicFullSyncMs: Math.round(resyncMs),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  } finally {
    await root('ip', ['netns', 'del', ns]);
  }
}
console.table(rows);
