// DualStackProxier, availableFamilies, familyOptionsView, renderFamilies and traceFamily with a fake mode
// (so that these tests do not depend on any mode's IPv6 support), plus one real mode (iptables, IPv4) to
// show that one family's endpoints never stand in for the other's.
// Addresses: IPv4 198.18.0.0/15, IPv6 2001:2::/48 (VIPs 198.18.100.x / 2001:2:0:f::x).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { PlanOptions } from '../contracts/plan_options.ts';
import type { FamilySyncResult, SyncOptions, SyncReport } from '../contracts/sync.ts';
import type { TracePacket, TraceResult } from '../contracts/trace.ts';
import { ProxyMetrics } from '../metrics/proxy_metrics.ts';
import {
  endpoint,
  planOptions,
  proxyState,
  servicePortState,
  stateChange,
} from '../model/testing/fixtures.ts';
import type { IPFamily, ProxyState, StateChange } from '../model/types.ts';
import {
  availableFamilies,
  DualStackProxier,
  FamilySyncError,
  familyOptionsView,
  renderFamilies,
  traceFamily,
} from './dual_stack.ts';
import { iptablesMode } from './iptables/index.ts';
import type { ModeDefinition, Proxier, ProxierDeps } from './mode.ts';

/** A dual-stack service port with one endpoint per family, and an IPv4-only one. */
const WEB = servicePortState({
  serviceName: 'web',
  clusterIPs: ['198.18.100.1', '2001:2:0:f::1'],
  ipFamilies: ['IPv4', 'IPv6'],
  allEndpoints: [endpoint({ ip: '198.18.1.1' }), endpoint({ ip: '2001:2:0:1::1' })],
  clusterEndpoints: [endpoint({ ip: '198.18.1.1' }), endpoint({ ip: '2001:2:0:1::1' })],
  internalEndpoints: [endpoint({ ip: '198.18.1.1' }), endpoint({ ip: '2001:2:0:1::1' })],
  externalEndpoints: [endpoint({ ip: '198.18.1.1' }), endpoint({ ip: '2001:2:0:1::1' })],
});
const API = servicePortState({ serviceName: 'api', clusterIPs: ['198.18.100.2'] });
const STATE = proxyState([WEB, API]);
const OPTIONS = planOptions({
  nodeIPs: ['198.18.0.100', '2001:2::100'],
  clusterCIDRs: ['198.18.64.0/18', '2001:2:0:40::/58'],
});

interface FakeCall {
  readonly family: IPFamily | undefined;
  readonly state: ProxyState;
  readonly change: StateChange;
  readonly options: SyncOptions | undefined;
  readonly nodeIPs: readonly string[];
}

/** A mode whose Proxiers record what they are given; `fail` makes a family's next syncs throw. */
function fakeMode(families: readonly IPFamily[] | 'unset' = ['IPv4', 'IPv6']) {
  const ipFamilies = families === 'unset' ? undefined : families;
  const calls: FakeCall[] = [];
  const created: ProxierDeps[] = [];
  const stopped: (IPFamily | undefined)[] = [];
  const fail = new Map<IPFamily, Error>();
  const failStop = new Set<IPFamily>();
  const hostChecks: (IPFamily | undefined)[] = [];
  let hostProblem: ((family: IPFamily | undefined) => string | undefined) | undefined;
  const rendered: { family: IPFamily | undefined; state: ProxyState; options: PlanOptions }[] = [];
  const mode: ModeDefinition = {
    name: 'nftables',
    ipFamilies,
    renderRules(state, options) {
      rendered.push({ family: options.ipFamily, state, options });
      return `plan ${options.ipFamily ?? 'none'}: ${[...state.servicePorts.values()].map((p) => p.clusterIPs.join(',')).join(' ')}\n`;
    },
    trace(state, options, packet): TraceResult {
      return {
        verdict: 'DNAT',
        masquerade: false,
        backends: [...state.servicePorts.values()].flatMap((p) =>
          p.clusterEndpoints.map((e) => ({ address: `${e.ip}:${e.port}`, probability: 1 })),
        ),
        path: [`traced by the ${options.ipFamily} plan to ${packet.destination}`],
      };
    },
    async checkHost(deps) {
      hostChecks.push(deps.options.ipFamily);
      const problem = hostProblem?.(deps.options.ipFamily);
      if (problem !== undefined) throw new Error(problem);
    },
    createProxier(deps): Proxier {
      created.push(deps);
      const family = deps.options.ipFamily;
      return {
        async sync(state, change, options): Promise<SyncReport> {
          calls.push({ family, state, change, options, nodeIPs: [...deps.options.nodeIPs] });
          const error = family === undefined ? undefined : fail.get(family);
          if (error !== undefined) throw error;
          return {
            kind: options?.full ? 'full' : 'partial',
            servicePortsWritten: state.servicePorts.size,
            restoreBytes: family === 'IPv6' ? 600 : 400,
            restoreLines: family === 'IPv6' ? 6 : 4,
          };
        },
        async stop() {
          stopped.push(family);
          if (family !== undefined && failStop.has(family)) throw new Error(`Stop failed: ${family}`);
        },
      };
    },
    async cleanup() {},
  };
  return {
    mode,
    calls,
    created,
    stopped,
    fail,
    failStop,
    hostChecks,
    rendered,
    hostProblem: (f: (family: IPFamily | undefined) => string | undefined) => (hostProblem = f),
  };
}

function logged() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

function deps(options: PlanOptions = OPTIONS, metrics?: ProxyMetrics): ProxierDeps {
  return {
    options,
    exec: async () => ({ code: 0, stdout: '', stderr: '' }),
    logger: pino({ level: 'silent' }),
    iptablesBackend: 'legacy',
    metrics,
  };
}

const keys = (state: ProxyState) => [...state.servicePorts.keys()];

/** Options that read, at every access, what `current()` holds (as the daemon's live view). */
function liveOptions(current: () => PlanOptions): PlanOptions {
  return new Proxy({} as PlanOptions, {
    get: (_t, key) => Reflect.get(current(), key),
    has: (_t, key) => Reflect.has(current(), key),
    ownKeys: () => Reflect.ownKeys(current()),
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(current(), key);
      return d === undefined ? undefined : { ...d, configurable: true };
    },
  });
}

describe('DualStackProxier', () => {
  it("creates one Proxier per family, IPv4 first, each with its family's options", () => {
    const fake = fakeMode();
    const proxier = new DualStackProxier(fake.mode, deps(), ['IPv6', 'IPv4']);
    assert.deepEqual(proxier.families, ['IPv4', 'IPv6']);
    assert.deepEqual(
      fake.created.map((d) => d.options.ipFamily),
      ['IPv4', 'IPv6'],
    );
    assert.deepEqual(fake.created[0]?.options.nodeIPs, ['198.18.0.100']);
    assert.deepEqual(fake.created[1]?.options.nodeIPs, ['2001:2::100']);
    assert.deepEqual(fake.created[1]?.options.clusterCIDRs, ['2001:2:0:40::/58']);
    assert.ok(proxier.proxierOf('IPv6'));
  });

  it('runs IPv4 alone when given IPv4 alone', () => {
    const fake = fakeMode();
    const proxier = new DualStackProxier(fake.mode, deps(), ['IPv4']);
    assert.deepEqual(proxier.families, ['IPv4']);
    assert.equal(proxier.proxierOf('IPv6'), undefined);
  });

  it('syncs each family with its view of the state, the same change and options, and sums the reports', async () => {
    const fake = fakeMode();
    const proxier = new DualStackProxier(fake.mode, deps(), ['IPv4', 'IPv6']);
    const change = stateChange({ changed: new Set([WEB.key]) });
    const report = await proxier.sync(STATE, change, { full: true });
    assert.deepEqual(
      fake.calls.map((c) => [c.family, c.state.ipFamily, keys(c.state)]),
      [
        ['IPv4', 'IPv4', [API.key, WEB.key]],
        ['IPv6', 'IPv6', [WEB.key]],
      ],
    );
    assert.deepEqual(fake.calls[1]?.state.servicePorts.get(WEB.key)?.clusterIPs, ['2001:2:0:f::1']);
    assert.ok(fake.calls.every((c) => c.change === change && c.options?.full === true));
    assert.equal(report.kind, 'full');
    assert.equal(report.servicePortsWritten, 3);
    assert.equal(report.restoreBytes, 1000);
    assert.equal(report.restoreLines, 10);
    assert.deepEqual([...report.families.keys()], ['IPv4', 'IPv6']);
    const v6 = report.families.get('IPv6');
    assert.ok(v6?.ok);
    assert.equal(v6.report.restoreBytes, 600);
    assert.equal(v6.state, fake.calls[1]?.state, "the family's result carries the view it synced");
    assert.ok(v6.seconds >= 0);
    assert.equal(proxier.lastSyncFamilies, report.families);
  });

  it('reports partial only when every family synced partially', async () => {
    const fake = fakeMode();
    const proxier = new DualStackProxier(fake.mode, deps(), ['IPv4', 'IPv6']);
    assert.equal((await proxier.sync(STATE, stateChange(), { full: false })).kind, 'partial');
  });

  it('syncs the other family when one fails, then throws FamilySyncError with each result', async () => {
    const fake = fakeMode();
    const proxier = new DualStackProxier(fake.mode, deps(), ['IPv4', 'IPv6']);
    const broken = new Error('ip6tables-restore: line 3 failed');
    fake.fail.set('IPv6', broken);
    const error = await proxier.sync(STATE, stateChange(), { full: true }).catch((e: unknown) => e);
    assert.ok(error instanceof FamilySyncError);
    assert.equal(error.code, 'KPROXY_FAMILY_SYNC');
    assert.equal(error.name, 'FamilySyncError');
    assert.equal(error.message, 'Sync failed for IPv6: ip6tables-restore: line 3 failed');
    assert.deepEqual(error.errors, [broken]);
    assert.equal(error.cause, broken);
    assert.deepEqual(
      fake.calls.map((c) => c.family),
      ['IPv4', 'IPv6'],
    );
    const families = error.report.families as ReadonlyMap<IPFamily, FamilySyncResult>;
    assert.equal(families.get('IPv4')?.ok, true, 'IPv4 was synced');
    const v6 = families.get('IPv6');
    assert.ok(v6 !== undefined && !v6.ok);
    assert.equal(v6.error, broken);
    assert.equal(error.report.restoreBytes, 400, 'the sum of what did sync');
    assert.equal(proxier.lastSyncFamilies, families);
  });

  it('does not let a failing IPv4 stop IPv6 either, and names both when both fail', async () => {
    const fake = fakeMode();
    const proxier = new DualStackProxier(fake.mode, deps(), ['IPv4', 'IPv6']);
    fake.fail.set('IPv4', new Error('iptables-restore: busy'));
    const first = await proxier.sync(STATE, stateChange()).catch((e: unknown) => e);
    assert.ok(first instanceof FamilySyncError);
    assert.deepEqual(
      fake.calls.map((c) => c.family),
      ['IPv4', 'IPv6'],
    );
    fake.fail.set('IPv6', new Error('ip6tables-restore: busy'));
    const both = await proxier.sync(STATE, stateChange()).catch((e: unknown) => e);
    assert.ok(both instanceof FamilySyncError);
    assert.equal(both.message, 'Sync failed for IPv4: iptables-restore: busy; IPv6: ip6tables-restore: busy');
    assert.equal(both.report.kind, 'full', 'nothing synced: the retry is full');
  });

  it("rethrows the one family's own error when it runs alone, and still records its result", async () => {
    const fake = fakeMode();
    const proxier = new DualStackProxier(fake.mode, deps(), ['IPv4']);
    const broken = new Error('iptables-restore: line 1 failed');
    fake.fail.set('IPv4', broken);
    await assert.rejects(proxier.sync(STATE, stateChange()), (e) => e === broken);
    const v4 = proxier.lastSyncFamilies?.get('IPv4');
    assert.ok(v4 !== undefined && !v4.ok && v4.error === broken);
  });

  it('gives each family its metrics handle (ip_family)', async () => {
    const fake = fakeMode();
    const metrics = new ProxyMetrics({ mode: 'nftables' });
    new DualStackProxier(fake.mode, deps(OPTIONS, metrics), ['IPv4', 'IPv6']);
    assert.equal(fake.created[0]?.metrics?.ipFamily, 'IPv4');
    assert.equal(fake.created[1]?.metrics?.ipFamily, 'IPv6');
    fake.created[1]?.metrics?.nftablesSyncFailure();
    const text = await metrics.metricsText();
    assert.match(text, /^kubeproxy_sync_proxy_rules_nftables_sync_failures_total\{ip_family="IPv6"\} 1$/m);
    assert.match(text, /^kubeproxy_sync_proxy_rules_nftables_sync_failures_total\{ip_family="IPv4"\} 0$/m);
  });

  it('follows options that change under it (the daemon re-reads node IPs)', async () => {
    const fake = fakeMode();
    let current: PlanOptions = OPTIONS;
    const live = liveOptions(() => current);
    const proxier = new DualStackProxier(fake.mode, deps(live), ['IPv4', 'IPv6']);
    await proxier.sync(STATE, stateChange());
    current = { ...OPTIONS, nodeIPs: ['198.18.0.200', '2001:2::200'] };
    await proxier.sync(STATE, stateChange());
    assert.deepEqual(
      fake.calls.map((c) => [c.family, c.nodeIPs]),
      [
        ['IPv4', ['198.18.0.100']],
        ['IPv6', ['2001:2::100']],
        ['IPv4', ['198.18.0.200']],
        ['IPv6', ['2001:2::200']],
      ],
    );
  });

  it('stops every family, even when one fails to stop', async () => {
    const fake = fakeMode();
    const proxier = new DualStackProxier(fake.mode, deps(), ['IPv4', 'IPv6']);
    fake.failStop.add('IPv4');
    await assert.rejects(proxier.stop(), /Stop failed: IPv4/);
    assert.deepEqual(fake.stopped, ['IPv4', 'IPv6']);
  });
});

describe('familyOptionsView', () => {
  it("reads as planOptionsForFamily's options, with ipFamily set", () => {
    const view = familyOptionsView(OPTIONS, 'IPv6');
    assert.equal(view.ipFamily, 'IPv6');
    assert.deepEqual(view.nodeIPs, ['2001:2::100']);
    assert.deepEqual(view.clusterCIDRs, ['2001:2:0:40::/58']);
    assert.equal(view.masqueradeBit, OPTIONS.masqueradeBit);
    assert.equal('ipFamily' in view, true);
    assert.deepEqual({ ...view }.nodeIPs, ['2001:2::100'], 'a spread copy is narrowed too');
    assert.equal({ ...view }.ipFamily, 'IPv6');
  });

  it('follows a changed underlying value, and recomputes a narrowed one only when it changed', () => {
    let current: PlanOptions = OPTIONS;
    const live = liveOptions(() => current);
    const view = familyOptionsView(live, 'IPv4');
    const before = view.nodeIPs;
    assert.deepEqual(before, ['198.18.0.100']);
    assert.equal(view.nodeIPs, before, 'the same array while the flag is unchanged');
    current = { ...OPTIONS, nodeIPs: ['198.18.0.7', '2001:2::7'], masqueradeAll: true };
    assert.deepEqual(view.nodeIPs, ['198.18.0.7']);
    assert.equal(view.masqueradeAll, true);
    assert.deepEqual(view.clusterCIDRs, ['198.18.64.0/18']);
  });

  it('is read-only', () => {
    const view = familyOptionsView(OPTIONS, 'IPv4') as { nodeIPs: readonly string[] };
    assert.throws(() => {
      view.nodeIPs = [];
    }, TypeError);
  });
});

describe('availableFamilies', () => {
  const noProblem = async () => undefined;

  it('serves both families when the mode plans IPv6, the kernel has it and the host check passes', async () => {
    const fake = fakeMode();
    const { logger, lines } = logged();
    const result = await availableFamilies(fake.mode, deps(), noProblem, logger);
    assert.deepEqual(result.families, ['IPv4', 'IPv6']);
    assert.equal(result.unavailable.size, 0);
    assert.deepEqual(fake.hostChecks, ['IPv4', 'IPv6'], 'the host is checked for each family');
    assert.equal(lines.length, 0);
  });

  it('leaves IPv6 out with a warning when the mode does not plan it yet (no kernel probe)', async () => {
    const fake = fakeMode('unset');
    const { logger, lines } = logged();
    let probed = false;
    const result = await availableFamilies(
      fake.mode,
      deps(),
      async () => {
        probed = true;
        return undefined;
      },
      logger,
    );
    assert.deepEqual(result.families, ['IPv4']);
    assert.equal(result.unavailable.get('IPv6'), 'the nftables mode does not plan IPv6 yet');
    assert.equal(probed, false);
    assert.deepEqual(fake.hostChecks, ['IPv4']);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.['level'], 40);
    assert.equal(lines[0]?.['ipFamily'], 'IPv6');
    assert.equal(
      lines[0]?.['msg'],
      'IPv6 Services will not be served on this node: the nftables mode does not plan IPv6 yet',
    );
  });

  it('leaves IPv6 out with the reason when the kernel has no IPv6', async () => {
    const fake = fakeMode();
    const { logger, lines } = logged();
    const result = await availableFamilies(
      fake.mode,
      deps(),
      async () => 'IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)',
      logger,
    );
    assert.deepEqual(result.families, ['IPv4']);
    assert.equal(result.unavailable.get('IPv6'), 'IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)');
    assert.deepEqual(fake.hostChecks, ['IPv4'], 'no IPv6 host check without IPv6');
    assert.equal(lines[0]?.['reason'], 'IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)');
  });

  it("leaves IPv6 out with the host check's message when it throws for IPv6 (ip6tables missing)", async () => {
    const fake = fakeMode();
    fake.hostProblem((family) => (family === 'IPv6' ? 'ip6tables-restore is not installed' : undefined));
    const { logger, lines } = logged();
    const result = await availableFamilies(fake.mode, deps(), noProblem, logger);
    assert.deepEqual(result.families, ['IPv4']);
    assert.equal(result.unavailable.get('IPv6'), 'ip6tables-restore is not installed');
    assert.equal(lines.length, 1);
  });

  it('fails as before when the host cannot serve IPv4', async () => {
    const fake = fakeMode();
    fake.hostProblem((family) => (family === 'IPv4' ? 'iptables-restore is not installed' : undefined));
    await assert.rejects(
      availableFamilies(fake.mode, deps(), noProblem, logged().logger),
      /iptables-restore is not installed/,
    );
  });
});

describe('renderFamilies', () => {
  it("prints each family's plan under # IPv4 then # IPv6, each from its view and options", () => {
    const fake = fakeMode();
    const text = renderFamilies(fake.mode, STATE, OPTIONS);
    assert.equal(text, '# IPv4\nplan IPv4: 198.18.100.2 198.18.100.1\n# IPv6\nplan IPv6: 2001:2:0:f::1\n');
    assert.deepEqual(
      fake.rendered.map((r) => [r.family, r.state.ipFamily, r.options.nodeIPs]),
      [
        ['IPv4', 'IPv4', ['198.18.0.100']],
        ['IPv6', 'IPv6', ['2001:2::100']],
      ],
    );
  });

  it('prints one family bare when asked', () => {
    const fake = fakeMode();
    assert.equal(renderFamilies(fake.mode, STATE, OPTIONS, 'IPv6'), 'plan IPv6: 2001:2:0:f::1\n');
    assert.equal(renderFamilies(fake.mode, STATE, OPTIONS, 'IPv4'), 'plan IPv4: 198.18.100.2 198.18.100.1\n');
  });

  it('says which family the mode does not plan, and refuses to print it alone', () => {
    const fake = fakeMode(['IPv4']);
    assert.equal(
      renderFamilies(fake.mode, STATE, OPTIONS),
      '# IPv4\nplan IPv4: 198.18.100.2 198.18.100.1\n# IPv6: not planned by the nftables mode\n',
    );
    assert.throws(
      () => renderFamilies(fake.mode, STATE, OPTIONS, 'IPv6'),
      /The nftables mode does not plan IPv6/,
    );
  });
});

describe('traceFamily', () => {
  const packet = (source: string, destination: string): TracePacket => ({
    source,
    destination,
    port: 80,
    protocol: 'TCP',
  });

  it("traces an IPv6 packet through the IPv6 plan, with the IPv6 view's endpoints", () => {
    const fake = fakeMode();
    const result = traceFamily(fake.mode, STATE, OPTIONS, packet('2001:2:0:c0::2', '2001:2:0:f::1'));
    assert.deepEqual(result.path, ['traced by the IPv6 plan to 2001:2:0:f::1']);
    assert.deepEqual(
      result.backends.map((b) => b.address),
      ['2001:2:0:1::1:8080'],
    );
  });

  it('traces an IPv4 packet through the IPv4 plan', () => {
    const fake = fakeMode();
    const result = traceFamily(fake.mode, STATE, OPTIONS, packet('198.18.5.5', '198.18.100.1'));
    assert.deepEqual(result.path, ['traced by the IPv4 plan to 198.18.100.1']);
    assert.deepEqual(
      result.backends.map((b) => b.address),
      ['198.18.1.1:8080'],
    );
  });

  it('refuses a packet whose source and destination are of different families', () => {
    assert.throws(
      () => traceFamily(fakeMode().mode, STATE, OPTIONS, packet('198.18.5.5', '2001:2:0:f::1')),
      /different IP families/,
    );
  });

  it('answers NONE for a family the mode does not plan', () => {
    const result = traceFamily(fakeMode(['IPv4']).mode, STATE, OPTIONS, packet('2001:2::5', '2001:2:0:f::1'));
    assert.equal(result.verdict, 'NONE');
    assert.deepEqual(result.path, ['The nftables mode does not plan IPv6']);
  });

  it('REJECTs on IPv4 when the IPv4 endpoints are not ready, whatever IPv6 has (iptables mode)', () => {
    const notReady = endpoint({ ip: '198.18.1.1', ready: false, serving: false });
    const v6 = endpoint({ ip: '2001:2:0:1::1' });
    const web = servicePortState({
      serviceName: 'web',
      clusterIPs: ['198.18.100.1', '2001:2:0:f::1'],
      ipFamilies: ['IPv4', 'IPv6'],
      allEndpoints: [notReady, v6],
      // What the tracker decides on both families together: the IPv6 endpoint is ready.
      clusterEndpoints: [v6],
      internalEndpoints: [v6],
      externalEndpoints: [v6],
    });
    const result = traceFamily(
      iptablesMode,
      proxyState([web]),
      OPTIONS,
      packet('198.18.5.5', '198.18.100.1'),
    );
    assert.equal(result.verdict, 'REJECT');
    assert.deepEqual(result.backends, []);
  });
});
