import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpoint, proxyState, servicePortState } from '../model/testing/fixtures.ts';
import type { Endpoint, ProxyState, ServicePortState, TrafficPolicy } from '../model/types.ts';
import { countNoLocalEndpoints } from './no_local_endpoints.ts';

const LOCAL = endpoint({ port: 80, nodeName: 'n1', isLocal: true });
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
  return servicePortState({
    serviceName: row.name,
    type: row.nodePort === 0 ? 'ClusterIP' : 'NodePort',
    nodePort: row.nodePort,
    externalTrafficPolicy: row.etp,
    internalTrafficPolicy: row.itp,
    allEndpoints: row.endpoints,
    clusterEndpoints: row.endpoints,
    localEndpoints: local,
    internalEndpoints: row.itp === 'Local' ? local : row.endpoints,
    externalEndpoints: row.etp === 'Local' ? local : row.endpoints,
  });
}

function stateOf(rows: readonly Row[]): ProxyState {
  return proxyState(rows.map(servicePort), { nodeName: 'n1' });
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
