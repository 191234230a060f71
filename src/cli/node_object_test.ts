/**
 * The Node object through the whole daemon with a real mode: the ipvs Proxier on the strict fake host
 * (real wrappers, real command lines, in-memory kernel). NodePort virtual servers follow the Node's
 * addresses without a restart, and zone hints follow the Node's zone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Daemon } from '../daemon.ts';
import { createFakeIpvsHost } from '../kernel/testing/ipvs_fake_host.ts';
import { createLogger } from '../log.ts';
import {
  endpointAddress,
  endpointSliceSpec,
  planOptions,
  servicePortSpec,
  serviceSpec,
} from '../model/testing/fixtures.ts';
import type { NodeSpec } from '../model/validate_node.ts';
import { loadMode } from '../modes/registry.ts';
import { FakeClock } from '../runner/clock.ts';
import type { NodeSink, ProxySource, SourceSink } from '../sources/source.ts';

function node(overrides: Partial<NodeSpec>): NodeSpec {
  return {
    name: 'node-a',
    zone: undefined,
    region: undefined,
    addresses: [],
    podCIDRs: [],
    deleting: false,
    taints: [],
    ...overrides,
  };
}

async function setup() {
  const host = createFakeIpvsHost();
  host.netlink.addInterface('eth0', ['198.18.0.1']);
  const clock = new FakeClock(1_000_000);
  let sink: SourceSink = () => {};
  let nodeSink: NodeSink = () => {};
  const source: ProxySource = {
    start: async (s, options) => {
      sink = s;
      nodeSink = options?.onNode ?? (() => {});
    },
    stop: async () => {},
  };
  const daemon = new Daemon({
    mode: await loadMode('ipvs'),
    source,
    plan: planOptions({ nodeName: 'node-a', nodeIPs: ['198.18.0.1'] }),
    exec: host.exec,
    logger: createLogger({ format: 'json', level: 'silent' }),
    iptablesBackend: 'nft',
    minSyncPeriodMs: 1000,
    syncPeriodMs: 60_000,
    clock,
    // As `run` without --node-ip: the host's addresses plus the Node's.
    nodeIPsFor: (addresses) => [...new Set(['198.18.0.1', ...addresses])].sort(),
  });
  await daemon.start();
  const service = serviceSpec({
    type: 'NodePort',
    clusterIPs: ['198.18.100.1'],
    ports: [servicePortSpec({ nodePort: 30080 })],
  });
  const slice = endpointSliceSpec({
    endpoints: [
      endpointAddress('198.19.1.1', { zone: 'zone-a', zoneHints: ['zone-a'] }),
      endpointAddress('198.19.1.2', { zone: 'zone-b', zoneHints: ['zone-b'] }),
    ],
  });
  sink({ type: 'add', object: { kind: 'Service', spec: service }, at: clock.now() });
  sink({ type: 'add', object: { kind: 'EndpointSlice', spec: slice }, at: clock.now() });
  /** `address:port backends` of every TCP virtual server. */
  const table = () =>
    host.ipvs
      .table()
      .map((vs) => `${vs.address}:${vs.port} ${vs.realServers.map((r) => r.address).join(',')}`)
      .sort();
  return {
    host,
    clock,
    daemon,
    table,
    synced: () => sink({ type: 'synced' }),
    nodeSink: (n: NodeSpec) => nodeSink({ type: 'node', node: n, at: clock.now() }),
  };
}

describe('the Node object with the ipvs Proxier on the strict fake host', () => {
  it('moves NodePort virtual servers with the Node addresses, without a restart', async () => {
    const { clock, daemon, table, synced, nodeSink } = await setup();
    synced();
    await clock.advance(0);
    assert.deepEqual(table(), [
      '198.18.0.1:30080 198.19.1.1,198.19.1.2',
      '198.18.100.1:80 198.19.1.1,198.19.1.2',
    ]);

    await clock.advance(5000);
    nodeSink(node({ addresses: ['198.18.0.2'] }));
    await clock.advance(0);
    assert.deepEqual(table(), [
      '198.18.0.1:30080 198.19.1.1,198.19.1.2',
      '198.18.0.2:30080 198.19.1.1,198.19.1.2',
      '198.18.100.1:80 198.19.1.1,198.19.1.2',
    ]);

    await clock.advance(5000);
    nodeSink(node({ addresses: ['198.18.0.3'] }));
    await clock.advance(0);
    assert.deepEqual(table(), [
      '198.18.0.1:30080 198.19.1.1,198.19.1.2',
      '198.18.0.3:30080 198.19.1.1,198.19.1.2',
      '198.18.100.1:80 198.19.1.1,198.19.1.2',
    ]);
    await daemon.stop();
  });

  it('keeps only the endpoints hinted for the Node zone once the zone is known', async () => {
    const { clock, daemon, table, synced, nodeSink } = await setup();
    nodeSink(node({ zone: 'zone-b', addresses: ['198.18.0.1'] }));
    synced();
    await clock.advance(0);
    assert.deepEqual(table(), ['198.18.0.1:30080 198.19.1.2', '198.18.100.1:80 198.19.1.2']);
    await clock.advance(5000);
    nodeSink(node({ zone: 'zone-a', addresses: ['198.18.0.1'] }));
    await clock.advance(0);
    assert.deepEqual(table(), ['198.18.0.1:30080 198.19.1.1', '198.18.100.1:80 198.19.1.1']);
    await daemon.stop();
  });
});
