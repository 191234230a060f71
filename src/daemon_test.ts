import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { SyncOptions, SyncReport } from './contracts/sync.ts';
import { Daemon, type DaemonOptions } from './daemon.ts';
import type { Exec } from './kernel/exec.ts';
import { createLogger } from './log.ts';
import { metricsObserver } from './metrics/metrics_observer.ts';
import { ProxyMetrics } from './metrics/proxy_metrics.ts';
import { planOptions, servicePortSpec, serviceSpec } from './model/testing/fixtures.ts';
import type { ServiceSpec, StateChange } from './model/types.ts';
import type { NodeSpec } from './model/validate_node.ts';
import type { ModeDefinition, Proxier } from './modes/mode.ts';
import { FakeClock } from './runner/clock.ts';
import type { NodeEvent, NodeSink, ProxySource, SourceSink } from './sources/source.ts';

const plan = planOptions({ nodeIPs: ['198.18.0.1'] });

function svc(name: string, ip: string): ServiceSpec {
  return serviceSpec({ name, clusterIPs: [ip], ports: [servicePortSpec({ name: '', targetPort: 80 })] });
}

function setup(overrides: Partial<DaemonOptions> = {}) {
  const clock = new FakeClock(1_000_000);
  const syncs: { keys: string[]; changed: string[]; full: boolean; nodeIPs?: readonly string[] }[] = [];
  let failNext = 0;
  let sink: SourceSink = () => {};
  let nodeSink: NodeSink = () => {};
  let proxierOptions: { readonly nodeIPs: readonly string[] } | undefined;
  const source: ProxySource = {
    start: async (s, options) => {
      sink = s;
      nodeSink = options?.onNode ?? (() => {});
    },
    stop: async () => {},
  };
  const proxier: Proxier = {
    async sync(state, change: StateChange, options?: SyncOptions): Promise<SyncReport> {
      if (failNext > 0) {
        failNext--;
        throw new Error('Restore failed: injected');
      }
      syncs.push({
        keys: [...state.servicePorts.keys()],
        changed: [...change.changed].sort(),
        full: options?.full ?? false,
        // What a real Proxier reads of its options at each sync.
        ...(overrides.nodeIPsFor === undefined ? {} : { nodeIPs: [...(proxierOptions?.nodeIPs ?? [])] }),
      });
      return {
        kind: options?.full ? 'full' : 'partial',
        servicePortsWritten: change.changed.size,
        restoreBytes: 0,
        restoreLines: 0,
      };
    },
    stop: async () => {},
  };
  const mode: ModeDefinition = {
    name: 'iptables',
    renderRules: () => '',
    trace: () => ({ verdict: 'NONE', masquerade: false, backends: [], path: [] }),
    checkHost: async () => {},
    createProxier: (deps) => {
      proxierOptions = deps.options;
      return proxier;
    },
    cleanup: async () => {},
  };
  const exec: Exec = async () => ({ code: 0, stdout: '', stderr: '' });
  const succeeded: number[] = [];
  const failed: number[] = [];
  const daemon = new Daemon({
    mode,
    source,
    plan,
    exec,
    logger: createLogger({ format: 'json', level: 'silent' }),
    iptablesBackend: 'legacy',
    minSyncPeriodMs: 1000,
    syncPeriodMs: 30_000,
    clock,
    observers: [{ syncSucceeded: (i) => succeeded.push(i.at), syncFailed: (i) => failed.push(i.at) }],
    ...overrides,
  });
  const add = (s: ServiceSpec) =>
    sink({ type: 'add', object: { kind: 'Service', spec: s }, at: clock.now() });
  return {
    clock,
    daemon,
    syncs,
    add,
    synced: () => sink({ type: 'synced' }),
    node: (event: NodeEvent) => nodeSink(event),
    fail: (n: number) => (failNext = n),
    succeeded,
    failed,
  };
}

describe('Daemon', () => {
  it('does not sync before the source is synced, then syncs fully once', async () => {
    const { clock, daemon, syncs, add, synced } = setup();
    await daemon.start();
    add(svc('a', '198.18.100.1'));
    await clock.advance(5000);
    assert.deepEqual(syncs, []);
    synced();
    await clock.advance(0);
    assert.deepEqual(syncs, [{ keys: ['default/a:/TCP'], changed: ['default/a:/TCP'], full: true }]);
  });

  it('syncs changes partially, bounded by the min sync period, and fully every sync period', async () => {
    const { clock, daemon, syncs, add, synced } = setup();
    await daemon.start();
    synced();
    await clock.advance(0);
    add(svc('b', '198.18.100.2'));
    await clock.advance(0);
    assert.equal(syncs.length, 1, 'the second change waits for the min sync period');
    await clock.advance(1000);
    assert.deepEqual(syncs[1], { keys: ['default/b:/TCP'], changed: ['default/b:/TCP'], full: false });
    await clock.advance(30_000);
    assert.equal(syncs.length, 3);
    assert.equal(syncs[2]?.full, true, 'the periodic resync is full');
    await daemon.stop();
  });

  it('carries the change of a failed sync into the retry, which is full', async () => {
    const { clock, daemon, syncs, add, synced, fail, failed, succeeded } = setup();
    await daemon.start();
    synced();
    await clock.advance(0);
    fail(1);
    add(svc('c', '198.18.100.3'));
    await clock.advance(1000);
    assert.equal(failed.length, 1);
    assert.equal(syncs.length, 1);
    await clock.advance(1000);
    assert.deepEqual(syncs[1], { keys: ['default/c:/TCP'], changed: ['default/c:/TCP'], full: true });
    assert.equal(succeeded.length, 2);
  });
});

function nodeSpec(overrides: Partial<NodeSpec> = {}): NodeSpec {
  return {
    name: 'node-a',
    zone: undefined,
    region: undefined,
    addresses: ['198.18.0.1'],
    podCIDRs: [],
    deleting: false,
    taints: [],
    ...overrides,
  };
}

describe('Daemon: the Node object', () => {
  it('gives the Node zone to the tracker before the first sync, and re-syncs every service when it changes', async () => {
    const { clock, daemon, syncs, add, synced, node } = setup();
    await daemon.start();
    node({ type: 'node', node: nodeSpec({ zone: 'zone-a' }), at: clock.now() });
    add(svc('a', '198.18.100.1'));
    synced();
    await clock.advance(0);
    assert.equal(daemon.tracker.nodeTopology.zone, 'zone-a');
    assert.equal(syncs.length, 1);
    node({ type: 'node', node: nodeSpec({ zone: 'zone-b' }), at: clock.now() });
    await clock.advance(1000);
    assert.equal(daemon.tracker.nodeTopology.zone, 'zone-b');
    // The tracker rebuilt every service; without zone hints none of them came out different.
    assert.equal(syncs.length, 2, 'a zone change asks for a sync');
    node({ type: 'node', node: nodeSpec({ zone: 'zone-b', region: 'r' }), at: clock.now() });
    await clock.advance(5000);
    assert.equal(syncs.length, 2, 'nothing to re-plan when the zone stays');
    await daemon.stop();
  });

  it('follows the Node addresses with a full sync on the new node IPs, without a restart', async () => {
    const nodeIPsFor = (addresses: readonly string[]) => ['127.0.0.1', ...addresses];
    const { clock, daemon, syncs, add, synced, node } = setup({ nodeIPsFor });
    await daemon.start();
    add(svc('a', '198.18.100.1'));
    synced();
    await clock.advance(0);
    assert.deepEqual(syncs[0]?.nodeIPs, ['198.18.0.1'], 'the options from the flags, until the Node is seen');
    await clock.advance(2000);
    node({ type: 'node', node: nodeSpec({ addresses: ['198.18.0.2'] }), at: clock.now() });
    await clock.advance(0);
    assert.deepEqual(syncs[1], {
      keys: ['default/a:/TCP'],
      changed: [],
      full: true,
      nodeIPs: ['127.0.0.1', '198.18.0.2'],
    });
    assert.deepEqual(daemon.planOptions.nodeIPs, ['127.0.0.1', '198.18.0.2']);
    node({ type: 'node', node: nodeSpec({ addresses: ['198.18.0.2'], zone: undefined }), at: clock.now() });
    await clock.advance(5000);
    assert.equal(syncs.length, 2, 'the same addresses change nothing');
    add(svc('b', '198.18.100.2'));
    await clock.advance(1000);
    assert.deepEqual(syncs[2]?.full, false, 'later syncs are partial again');
    await daemon.stop();
  });

  it('keeps the node IPs of --node-ip, keeps the pod CIDRs, and tells onNode every event', async () => {
    const heard: string[] = [];
    const onNode = (e: NodeEvent) => heard.push(e.type === 'node' ? `node ${e.node.deleting}` : 'deleted');
    const { clock, daemon, syncs, synced, node } = setup({ onNode });
    await daemon.start();
    synced();
    await clock.advance(0);
    node({ type: 'node', node: nodeSpec({ addresses: ['198.18.0.9'], podCIDRs: ['198.19.1.0/24'] }), at: 0 });
    node({ type: 'node', node: nodeSpec({ deleting: true }), at: 0 });
    node({ type: 'nodeDeleted', name: 'node-a', at: 0 });
    await clock.advance(5000);
    assert.equal(syncs.length, 1);
    assert.deepEqual(daemon.planOptions.nodeIPs, ['198.18.0.1']);
    assert.deepEqual(daemon.podCIDRs, []);
    assert.deepEqual(heard, ['node false', 'node true', 'deleted']);
    await daemon.stop();
  });
});

describe('Daemon: one Proxier per IP family', () => {
  /** A mode whose Proxiers record what each family syncs; `failing` names families whose syncs throw. */
  function dualSetup(
    families: DaemonOptions['families'],
    nodeIPsFor?: DaemonOptions['nodeIPsFor'],
    logger: DaemonOptions['logger'] = createLogger({ format: 'json', level: 'silent' }),
  ) {
    const clock = new FakeClock(1_000_000);
    const syncs: {
      family: string;
      keys: string[];
      clusterIPs: string[];
      nodeIPs: string[];
      full: boolean;
    }[] = [];
    const failing = new Set<string>();
    let sink: SourceSink = () => {};
    let nodeSink: NodeSink = () => {};
    const source: ProxySource = {
      start: async (s, options) => {
        sink = s;
        nodeSink = options?.onNode ?? (() => {});
      },
      stop: async () => {},
    };
    const created: (string | undefined)[] = [];
    const mode: ModeDefinition = {
      name: 'iptables',
      ipFamilies: ['IPv4', 'IPv6'],
      renderRules: () => '',
      trace: () => ({ verdict: 'NONE', masquerade: false, backends: [], path: [] }),
      checkHost: async () => {},
      createProxier: (deps) => {
        const family = deps.options.ipFamily ?? 'none';
        created.push(deps.options.ipFamily);
        return {
          async sync(state, _change, options): Promise<SyncReport> {
            if (failing.has(family))
              throw new Error(`${family === 'IPv6' ? 'ip6tables' : 'iptables'}-restore failed`);
            syncs.push({
              family,
              keys: [...state.servicePorts.keys()],
              clusterIPs: [...state.servicePorts.values()].flatMap((p) => p.clusterIPs),
              nodeIPs: [...deps.options.nodeIPs],
              full: options?.full ?? false,
            });
            return {
              kind: options?.full ? 'full' : 'partial',
              servicePortsWritten: 0,
              restoreBytes: 0,
              restoreLines: 0,
            };
          },
          stop: async () => {},
        };
      },
      cleanup: async () => {},
    };
    const failures: { families: string[]; failed: string[] }[] = [];
    const metrics = new ProxyMetrics({ mode: 'iptables' });
    const daemon = new Daemon({
      mode,
      source,
      plan: planOptions({ nodeIPs: ['198.18.0.1', '2001:2::1'] }),
      exec: async () => ({ code: 0, stdout: '', stderr: '' }),
      logger,
      iptablesBackend: 'legacy',
      minSyncPeriodMs: 1000,
      syncPeriodMs: 30_000,
      clock,
      metrics,
      families,
      nodeIPsFor,
      observers: [
        metricsObserver(metrics),
        {
          syncFailed: (info) =>
            failures.push({
              families: [...(info.families?.keys() ?? [])],
              failed: [...(info.families ?? new Map())].filter(([, r]) => !r.ok).map(([f]) => f),
            }),
        },
      ],
    });
    const add = (s: ServiceSpec) =>
      sink({ type: 'add', object: { kind: 'Service', spec: s }, at: clock.now() });
    return {
      clock,
      daemon,
      syncs,
      failing,
      failures,
      created,
      metrics,
      add,
      synced: () => sink({ type: 'synced' }),
      node: (e: NodeEvent) => nodeSink(e),
    };
  }

  const dual = serviceSpec({
    name: 'dual',
    clusterIPs: ['198.18.100.1', '2001:2:0:f::1'],
    ipFamilies: ['IPv4', 'IPv6'],
    ports: [servicePortSpec({ name: '' })],
  });
  const v4only = svc('four', '198.18.100.4');
  const v6only = serviceSpec({
    name: 'six',
    clusterIPs: ['2001:2:0:f::6'],
    ipFamilies: ['IPv6'],
    ports: [servicePortSpec({ name: '' })],
  });

  it('runs IPv4 alone by default', async () => {
    const { clock, daemon, syncs, created, add, synced } = dualSetup(undefined);
    assert.deepEqual(daemon.families, ['IPv4']);
    assert.deepEqual(created, ['IPv4']);
    assert.ok(daemon.proxierOf('IPv4'));
    assert.equal(daemon.proxierOf('IPv6'), undefined);
    await daemon.start();
    add(dual);
    add(v6only);
    synced();
    await clock.advance(0);
    assert.deepEqual(
      syncs.map((s) => [s.family, s.keys, s.clusterIPs]),
      [['IPv4', ['default/dual:/TCP'], ['198.18.100.1']]],
    );
    await daemon.stop();
  });

  it("gives each family's Proxier its view: only the services of its family, with its addresses", async () => {
    const { clock, daemon, syncs, add, synced } = dualSetup(['IPv4', 'IPv6']);
    assert.deepEqual(daemon.families, ['IPv4', 'IPv6']);
    await daemon.start();
    add(dual);
    add(v4only);
    add(v6only);
    synced();
    await clock.advance(0);
    assert.deepEqual(
      syncs.map((s) => [s.family, s.keys, s.clusterIPs, s.nodeIPs, s.full]),
      [
        [
          'IPv4',
          ['default/dual:/TCP', 'default/four:/TCP'],
          ['198.18.100.1', '198.18.100.4'],
          ['198.18.0.1'],
          true,
        ],
        [
          'IPv6',
          ['default/dual:/TCP', 'default/six:/TCP'],
          ['2001:2:0:f::1', '2001:2:0:f::6'],
          ['2001:2::1'],
          true,
        ],
      ],
    );
    await daemon.stop();
  });

  it("logs each family's part of a sync on the sync's line", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const { clock, daemon, add, synced } = dualSetup(['IPv4', 'IPv6'], undefined, logger);
    await daemon.start();
    add(dual);
    add(v6only);
    synced();
    await clock.advance(0);
    const line = lines.find((l) => l['msg'] === 'Synced proxy rules');
    const families = line?.['families'] as Record<string, { kind: string; servicePorts: number }>;
    assert.equal(families['IPv4']?.kind, 'full');
    assert.equal(families['IPv4']?.servicePorts, 1);
    assert.equal(families['IPv6']?.servicePorts, 2);
    await daemon.stop();
  });

  it("follows the Node's addresses of each family", async () => {
    const { clock, daemon, syncs, synced, node, add } = dualSetup(['IPv4', 'IPv6'], (addresses) => [
      ...addresses,
    ]);
    await daemon.start();
    add(dual);
    synced();
    await clock.advance(0);
    await clock.advance(2000);
    node({ type: 'node', node: nodeSpec({ addresses: ['198.18.0.2', '2001:2::2'] }), at: clock.now() });
    await clock.advance(0);
    assert.deepEqual(
      syncs.slice(2).map((s) => [s.family, s.nodeIPs, s.full]),
      [
        ['IPv4', ['198.18.0.2'], true],
        ['IPv6', ['2001:2::2'], true],
      ],
    );
    await daemon.stop();
  });

  it('keeps syncing IPv4 while IPv6 fails, tells observers which family failed, and retries both fully', async () => {
    const { clock, daemon, syncs, failing, failures, metrics, add, synced } = dualSetup(['IPv4', 'IPv6']);
    await daemon.start();
    add(dual);
    synced();
    await clock.advance(0);
    failing.add('IPv6');
    add(v4only);
    await clock.advance(1000);
    assert.deepEqual(failures, [{ families: ['IPv4', 'IPv6'], failed: ['IPv6'] }]);
    assert.deepEqual(syncs.at(-1)?.keys, ['default/dual:/TCP', 'default/four:/TCP'], 'IPv4 got the change');
    const text = await metrics.metricsText();
    assert.match(text, /^kproxy_sync_proxy_rules_failures_total\{ip_family="IPv6"\} 1$/m);
    assert.match(text, /^kproxy_sync_proxy_rules_failures_total\{ip_family="IPv4"\} 0$/m);
    failing.clear();
    await clock.advance(1000);
    assert.deepEqual(
      syncs.slice(-2).map((s) => [s.family, s.full]),
      [
        ['IPv4', true],
        ['IPv6', true],
      ],
    );
    assert.equal(daemon.syncs, 2);
    await daemon.stop();
  });
});
