import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint, ProxyState, ServicePortState, TrafficPolicy } from '../model/types.ts';
import { countNoLocalEndpoints } from './no_local_endpoints.ts';

const LOCAL: Endpoint = {
  ip: '198.18.1.1',
  port: 80,
  ready: true,
  serving: true,
  terminating: false,
  nodeName: 'n1',
  zone: undefined,
  isLocal: true,
};
const REMOTE: Endpoint = { ...LOCAL, ip: '198.18.2.1', nodeName: 'n2', isLocal: false };

interface Row {
  readonly name: string;
  readonly itp: TrafficPolicy;
  readonly etp: TrafficPolicy;
  readonly nodePort: number;
  readonly endpoints: readonly Endpoint[];
  readonly expected: { internal: number; external: number };
}

function servicePort(row: Row): ServicePortState {
  const local = row.endpoints.filter((e) => e.isLocal);
  return {
    key: `default/${row.name}:/TCP`,
    namespace: 'default',
    serviceName: row.name,
    portName: '',
    protocol: 'TCP',
    type: row.nodePort === 0 ? 'ClusterIP' : 'NodePort',
    port: 80,
    nodePort: row.nodePort,
    clusterIPs: ['198.18.100.1'],
    ipFamilies: ['IPv4'],
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    sessionAffinity: { type: 'None' },
    externalTrafficPolicy: row.etp,
    internalTrafficPolicy: row.itp,
    healthCheckNodePort: 0,
    annotations: {},
    allEndpoints: row.endpoints,
    clusterEndpoints: row.endpoints,
    localEndpoints: local,
    internalEndpoints: row.itp === 'Local' ? local : row.endpoints,
    externalEndpoints: row.etp === 'Local' ? local : row.endpoints,
  };
}

function stateOf(rows: readonly Row[]): ProxyState {
  return {
    version: 1,
    nodeName: 'n1',
    servicePorts: new Map(rows.map((r) => [`default/${r.name}:/TCP`, servicePort(r)])),
  };
}

describe('countNoLocalEndpoints', () => {
  const rows: Row[] = [
    {
      name: 'cluster-policies',
      itp: 'Cluster',
      etp: 'Cluster',
      nodePort: 30000,
      endpoints: [REMOTE],
      expected: { internal: 0, external: 0 },
    },
    {
      name: 'itp-local-remote-only',
      itp: 'Local',
      etp: 'Cluster',
      nodePort: 30000,
      endpoints: [REMOTE],
      expected: { internal: 1, external: 0 },
    },
    {
      name: 'etp-local-remote-only',
      itp: 'Cluster',
      etp: 'Local',
      nodePort: 30000,
      endpoints: [REMOTE],
      expected: { internal: 0, external: 1 },
    },
    {
      name: 'both-local-remote-only',
      itp: 'Local',
      etp: 'Local',
      nodePort: 30000,
      endpoints: [REMOTE],
      expected: { internal: 0, external: 0 },
    },
    {
      name: 'etp-local-with-local',
      itp: 'Cluster',
      etp: 'Local',
      nodePort: 30000,
      endpoints: [LOCAL, REMOTE],
      expected: { internal: 0, external: 0 },
    },
    {
      name: 'etp-local-no-endpoints',
      itp: 'Cluster',
      etp: 'Local',
      nodePort: 30000,
      endpoints: [],
      expected: { internal: 0, external: 0 },
    },
    {
      name: 'clusterip-itp-local-remote-only',
      itp: 'Local',
      etp: 'Cluster',
      nodePort: 0,
      endpoints: [REMOTE],
      expected: { internal: 0, external: 0 },
    },
    {
      name: 'clusterip-etp-local-ignored',
      itp: 'Cluster',
      etp: 'Local',
      nodePort: 0,
      endpoints: [REMOTE],
      expected: { internal: 0, external: 0 },
    },
  ];
  for (const row of rows) {
    it(`counts ${JSON.stringify(row.expected)} for ${row.name}`, () => {
      assert.deepEqual(countNoLocalEndpoints(stateOf([row])), row.expected);
    });
  }

  it('sums over every service port', () => {
    assert.deepEqual(countNoLocalEndpoints(stateOf(rows)), { internal: 1, external: 1 });
  });
});
