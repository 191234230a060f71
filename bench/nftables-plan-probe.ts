/**
 * Micro-benchmark of the nftables mode's pure half and of the tracker (not a test, not part of `npm run
 * bench`): N ClusterIP services × E endpoints, timed over warm rounds — the tracker's first snapshot,
 * planNftables, renderNftablesPlan, and a re-plan after a one-endpoint change. Prints the medians and a
 * sha256 of the rendered script (so that a change to the code can be checked to render the same bytes).
 * No root, no kernel.
 *
 * Usage: node --import tsx bench/nftables-plan-probe.ts [--services 10000] [--endpoints 10] [--rounds 9]
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  endpointAddress,
  endpointSliceSpec,
  planOptions,
  serviceSpec,
} from '../src/model/testing/fixtures.ts';
import type { ProxyState, ServicePortState, StateChange } from '../src/model/types.ts';
import { planNftables, renderNftablesPlan } from '../src/modes/nftables/index.ts';
import { ProxyStateTracker } from '../src/tracker/proxy_state_tracker.ts';
import { syntheticPodIp, syntheticServicePort, syntheticVip } from './scenarios/service_ports.ts';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '10000' },
    endpoints: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '9' },
  },
});
const services = Number(values.services);
const perService = Number(values.endpoints);
const rounds = Number(values.rounds);

const address = syntheticPodIp;
const vip = syntheticVip;

function service(i: number, generation = 0): ServicePortState {
  return syntheticServicePort(i, perService, generation);
}

function stateOf(ports: readonly ServicePortState[], version: number): ProxyState {
  const sorted = [...ports].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { version, nodeName: 'bench', servicePorts: new Map(sorted.map((p) => [p.key, p])) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function time<T>(f: () => T): [T, number] {
  const start = performance.now();
  const out = f();
  return [out, performance.now() - start];
}

const options = planOptions({ nodeName: 'bench', nodeIPs: ['198.18.0.1'], clusterCIDRs: ['10.128.0.0/9'] });
const ports = Array.from({ length: services }, (_, i) => service(i));
const state = stateOf(ports, 1);

/** The tracker fed every service and slice of the state, before its first snapshot. */
function fedTracker(): ProxyStateTracker {
  const tracker = new ProxyStateTracker({ nodeName: 'bench' });
  for (let i = 0; i < services; i++) {
    const spec = serviceSpec({ namespace: 'bench', name: `svc-${i}`, clusterIPs: [vip(i)] });
    tracker.handle({ type: 'add', object: { kind: 'Service', spec }, at: i });
    const endpoints = Array.from({ length: perService }, (_, j) =>
      endpointAddress(address(i * perService + j)),
    );
    const slice = endpointSliceSpec({
      namespace: 'bench',
      name: `svc-${i}-a`,
      serviceName: `svc-${i}`,
      endpoints,
    });
    tracker.handle({ type: 'add', object: { kind: 'EndpointSlice', spec: slice }, at: i });
  }
  return tracker;
}

// One phase after the other, so that one phase's garbage is not collected in another's time.
const times = {
  snapshot: [] as number[],
  plan: [] as number[],
  render: [] as number[],
  replan: [] as number[],
};
for (let round = 0; round < rounds; round++) {
  const tracker = fedTracker();
  times.snapshot.push(time(() => tracker.snapshot())[1]);
}
let digest = '';
let bytes = 0;
let plan = planNftables(state, options);
for (let round = 0; round < rounds; round++) {
  const [planned, planMs] = time(() => planNftables(state, options));
  const [text, renderMs] = time(() => renderNftablesPlan(planned));
  times.plan.push(planMs);
  times.render.push(renderMs);
  digest = createHash('sha256').update(text).digest('hex');
  bytes = text.length;
  plan = planned;
}
for (let round = 0; round < rounds; round++) {
  // A one-endpoint change of one service port, re-planned from the full plan.
  const changedPort = service(services >> 1, round + 1);
  const next = new Map(state.servicePorts);
  next.set(changedPort.key, changedPort);
  const change: StateChange = {
    changed: new Set([changedPort.key]),
    removed: new Set(),
    firstSeen: new Map(),
    serviceEvents: 0,
    endpointEvents: 1,
  };
  const nextState: ProxyState = { version: 2, nodeName: 'bench', servicePorts: next };
  times.replan.push(time(() => planNftables(nextState, options, { previous: plan, change }))[1]);
}

const fmt = (xs: number[]): string => `${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)})`;
// The first round is cold (JIT), the medians are over all rounds (most are warm).
console.log(`${services} services x ${perService} endpoints, ${rounds} rounds`);
console.log(`snapshot  ${fmt(times.snapshot)}`);
console.log(`plan      ${fmt(times.plan)}`);
console.log(`render    ${fmt(times.render)}`);
console.log(`re-plan   ${fmt(times.replan)}`);
console.log(`script    ${bytes} bytes, sha256 ${digest}`);
