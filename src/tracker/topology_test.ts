/**
 * Upstream's topology cases (`TestCategorizeEndpoints`, pkg/proxy/topology_test.go, Kubernetes 1.33/1.34)
 * transcribed as a table: the same endpoints, node labels and policies, our fixtures and addresses
 * (198.18.1.x for upstream's 10.1.2.x, 198.18.0.x for its 10.0.0.x).
 *
 * Upstream returns nil for a kind of endpoints the service never uses; here every set is computed, so a
 * row checks `cluster` only when the service uses cluster endpoints (upstream's UsesClusterEndpoints) and
 * `local` only when it uses local ones; `all` is upstream's allReachableEndpoints, the union of the sets
 * the service uses. Left out: upstream's
 * row with the PreferSameTrafficDistribution gate off (the gate is on by default since 1.34, and kproxy has
 * no gates) and its hasAnyEndpoints flag (kproxy has no such output).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpoint } from '../model/testing/fixtures.ts';
import type { Endpoint, NodeTopology, TopologyMode } from '../model/types.ts';
import { selectEndpoints } from './endpoint_selection.ts';
import { decideTopology, endpointAddress } from './topology.ts';

const NODE = 'node-a';

/** An endpoint of a row: `ip` with port 80, ready and remote unless told. */
interface Ep {
  readonly ip: string;
  readonly zones?: readonly string[];
  readonly nodes?: readonly string[];
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
  readonly local?: boolean;
}

function ep(e: Ep): Endpoint {
  const ready = e.ready ?? true;
  return endpoint({
    ip: e.ip,
    port: 80,
    ready,
    serving: e.serving ?? ready,
    terminating: e.terminating ?? false,
    nodeName: e.local ? NODE : 'node-b',
    isLocal: e.local ?? false,
    zoneHints: e.zones ?? [],
    nodeHints: e.nodes ?? [],
  });
}

/** A service port of a row, as upstream's BaseServicePortInfo fields. */
interface Svc {
  readonly internalLocal?: boolean;
  readonly externalLocal?: boolean;
  /** A NodePort (or externalIPs, LB): external traffic exists. */
  readonly external?: boolean;
}

interface Row {
  readonly name: string;
  readonly node?: NodeTopology & { readonly name?: string };
  readonly svc?: Svc;
  readonly endpoints: readonly Ep[];
  readonly cluster?: readonly string[];
  readonly local?: readonly string[];
  /** Defaults to `cluster` or `local`, whichever the service uses alone. */
  readonly all?: readonly string[];
}

const A = { zone: 'zone-a' };
const X = '198.18.1'; // upstream's 10.1.2
const Y = '198.18.0'; // upstream's 10.0.0

const rows: readonly Row[] = [
  {
    name: "should use topology since all endpoints have hints, node has a zone label and and there are endpoints for the node's zone",
    node: A,
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'] },
      { ip: `${X}.4`, zones: ['zone-b'] },
      { ip: `${X}.5`, zones: ['zone-c'] },
      { ip: `${X}.6`, zones: ['zone-a'] },
    ],
    cluster: [`${X}.3`, `${X}.6`],
  },
  {
    name: 'externalTrafficPolicy: Local, topology ignored for Local endpoints',
    node: A,
    svc: { externalLocal: true, external: true },
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'], local: true },
      { ip: `${X}.4`, zones: ['zone-b'], local: true },
      { ip: `${X}.5`, zones: ['zone-c'] },
      { ip: `${X}.6`, zones: ['zone-a'] },
    ],
    cluster: [`${X}.3`, `${X}.6`],
    local: [`${X}.3`, `${X}.4`],
    all: [`${X}.3`, `${X}.4`, `${X}.6`],
  },
  {
    name: 'internalTrafficPolicy: Local, topology ignored for Local endpoints',
    node: A,
    svc: { internalLocal: true, external: true },
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'], local: true },
      { ip: `${X}.4`, zones: ['zone-b'], local: true },
      { ip: `${X}.5`, zones: ['zone-c'] },
      { ip: `${X}.6`, zones: ['zone-a'] },
    ],
    cluster: [`${X}.3`, `${X}.6`],
    local: [`${X}.3`, `${X}.4`],
    all: [`${X}.3`, `${X}.4`, `${X}.6`],
  },
  {
    name: 'empty node labels',
    node: { zone: undefined },
    endpoints: [{ ip: `${X}.3`, zones: ['zone-a'] }],
    cluster: [`${X}.3`],
  },
  {
    name: 'empty zone label',
    node: { zone: '' },
    endpoints: [{ ip: `${X}.3`, zones: ['zone-a'] }],
    cluster: [`${X}.3`],
  },
  {
    name: 'node in different zone, no endpoint filtering',
    node: { zone: 'zone-b' },
    endpoints: [{ ip: `${X}.3`, zones: ['zone-a'] }],
    cluster: [`${X}.3`],
  },
  {
    name: 'unready endpoint',
    node: A,
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'] },
      { ip: `${X}.4`, zones: ['zone-b'] },
      { ip: `${X}.5`, zones: ['zone-c'] },
      { ip: `${X}.6`, zones: ['zone-a'], ready: false },
    ],
    cluster: [`${X}.3`],
  },
  {
    name: 'only unready endpoints in same zone (should not filter)',
    node: A,
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'], ready: false },
      { ip: `${X}.4`, zones: ['zone-b'] },
      { ip: `${X}.5`, zones: ['zone-c'] },
      { ip: `${X}.6`, zones: ['zone-a'], ready: false },
    ],
    cluster: [`${X}.4`, `${X}.5`],
  },
  {
    name: 'missing hints, no filtering applied',
    node: A,
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'] },
      { ip: `${X}.4`, zones: ['zone-b'] },
      { ip: `${X}.5` },
      { ip: `${X}.6`, zones: ['zone-a'] },
    ],
    cluster: [`${X}.3`, `${X}.4`, `${X}.5`, `${X}.6`],
  },
  {
    name: 'multiple hints per endpoint, filtering includes any endpoint with zone included',
    node: { zone: 'zone-c' },
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a', 'zone-b', 'zone-c'] },
      { ip: `${X}.4`, zones: ['zone-b', 'zone-c'] },
      { ip: `${X}.5`, zones: ['zone-b', 'zone-d'] },
      { ip: `${X}.6`, zones: ['zone-c'] },
    ],
    cluster: [`${X}.3`, `${X}.4`, `${X}.6`],
  },
  {
    name: 'PreferSameNode available',
    node: { ...A, name: 'node-1' },
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'], nodes: ['node-1'] },
      { ip: `${X}.4`, zones: ['zone-b'], nodes: ['node-2'] },
      { ip: `${X}.5`, zones: ['zone-c'], nodes: ['node-3'] },
      { ip: `${X}.6`, zones: ['zone-a'], nodes: ['node-4'] },
    ],
    cluster: [`${X}.3`],
  },
  {
    name: 'PreferSameNode ignored if some endpoints unhinted',
    node: { ...A, name: 'node-1' },
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'], nodes: ['node-1'] },
      { ip: `${X}.4` },
      { ip: `${X}.5`, zones: ['zone-c'], nodes: ['node-3'] },
      { ip: `${X}.6`, zones: ['zone-a'], nodes: ['node-4'] },
    ],
    cluster: [`${X}.3`, `${X}.4`, `${X}.5`, `${X}.6`],
  },
  {
    name: 'PreferSameNode falls back to PreferSameZone if no endpoint for node',
    node: { ...A, name: 'node-0' },
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'], nodes: ['node-1'] },
      { ip: `${X}.4`, zones: ['zone-b'], nodes: ['node-2'] },
      { ip: `${X}.5`, zones: ['zone-c'], nodes: ['node-3'] },
      { ip: `${X}.6`, zones: ['zone-a'], nodes: ['node-4'] },
    ],
    cluster: [`${X}.3`, `${X}.6`],
  },
  {
    name: 'conflicting topology and localness require merging allEndpoints',
    node: A,
    svc: { externalLocal: true, external: true },
    endpoints: [
      { ip: `${Y}.0`, zones: ['zone-a'], local: true },
      { ip: `${Y}.1`, zones: ['zone-b'], local: true },
      { ip: `${Y}.2`, zones: ['zone-a'] },
      { ip: `${Y}.3`, zones: ['zone-b'] },
    ],
    cluster: [`${Y}.0`, `${Y}.2`],
    local: [`${Y}.0`, `${Y}.1`],
    all: [`${Y}.0`, `${Y}.1`, `${Y}.2`],
  },
  {
    name: 'internalTrafficPolicy: Local, with empty endpoints',
    svc: { internalLocal: true },
    endpoints: [],
    local: [],
  },
  {
    name: 'internalTrafficPolicy: Local, but all endpoints are remote',
    svc: { internalLocal: true },
    endpoints: [{ ip: `${Y}.0` }, { ip: `${Y}.1` }],
    local: [],
  },
  {
    name: 'internalTrafficPolicy: Local, all endpoints are local',
    svc: { internalLocal: true },
    endpoints: [
      { ip: `${Y}.0`, local: true },
      { ip: `${Y}.1`, local: true },
    ],
    local: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'internalTrafficPolicy: Local, some endpoints are local',
    svc: { internalLocal: true },
    endpoints: [{ ip: `${Y}.0`, local: true }, { ip: `${Y}.1` }],
    local: [`${Y}.0`],
  },
  {
    name: 'Cluster traffic policy, endpoints not Ready',
    endpoints: [
      { ip: `${Y}.0`, ready: false },
      { ip: `${Y}.1`, ready: false },
    ],
    cluster: [],
  },
  {
    name: 'Cluster traffic policy, some endpoints are Ready',
    endpoints: [{ ip: `${Y}.0`, ready: false }, { ip: `${Y}.1` }],
    cluster: [`${Y}.1`],
  },
  {
    name: 'Cluster traffic policy, all endpoints are terminating',
    endpoints: [
      { ip: `${Y}.0`, ready: false, serving: true, terminating: true, local: true },
      { ip: `${Y}.1`, ready: false, serving: true, terminating: true },
    ],
    cluster: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'iTP: Local, eTP: Cluster, some endpoints local',
    svc: { internalLocal: true, external: true },
    endpoints: [{ ip: `${Y}.0`, local: true }, { ip: `${Y}.1` }],
    cluster: [`${Y}.0`, `${Y}.1`],
    local: [`${Y}.0`],
    all: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'iTP: Cluster, eTP: Local, some endpoints local',
    svc: { externalLocal: true, external: true },
    endpoints: [{ ip: `${Y}.0`, local: true }, { ip: `${Y}.1` }],
    cluster: [`${Y}.0`, `${Y}.1`],
    local: [`${Y}.0`],
    all: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'iTP: Local, eTP: Local, some endpoints local',
    svc: { internalLocal: true, externalLocal: true, external: true },
    endpoints: [{ ip: `${Y}.0`, local: true }, { ip: `${Y}.1` }],
    cluster: [`${Y}.0`, `${Y}.1`],
    local: [`${Y}.0`],
    all: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'iTP: Local, eTP: Local, all endpoints remote',
    svc: { internalLocal: true, externalLocal: true, external: true },
    endpoints: [{ ip: `${Y}.0` }, { ip: `${Y}.1` }],
    cluster: [`${Y}.0`, `${Y}.1`],
    local: [],
    all: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'iTP: Local, eTP: Local, all endpoints remote and terminating',
    svc: { internalLocal: true, externalLocal: true, external: true },
    endpoints: [
      { ip: `${Y}.0`, ready: false, serving: true, terminating: true },
      { ip: `${Y}.1`, ready: false, serving: true, terminating: true },
    ],
    cluster: [`${Y}.0`, `${Y}.1`],
    local: [],
    all: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'iTP: Cluster, eTP: Local, with terminating endpoints',
    svc: { externalLocal: true, external: true },
    endpoints: [
      { ip: `${Y}.0` },
      { ip: `${Y}.1`, ready: false, serving: false, local: true },
      { ip: `${Y}.2`, ready: false, serving: true, terminating: true, local: true },
      { ip: `${Y}.3`, ready: false, serving: true, terminating: true },
    ],
    cluster: [`${Y}.0`],
    local: [`${Y}.2`],
    all: [`${Y}.0`, `${Y}.2`],
  },
  {
    // The validator already reads externalTrafficPolicy Local as Cluster for such a service.
    name: 'externalTrafficPolicy ignored if not externally accessible',
    endpoints: [{ ip: `${Y}.0` }, { ip: `${Y}.1`, local: true }],
    cluster: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'no cluster endpoints for iTP:Local internal-only service',
    svc: { internalLocal: true },
    endpoints: [{ ip: `${Y}.0` }, { ip: `${Y}.1`, local: true }],
    local: [`${Y}.1`],
  },
  {
    name: 'externalTrafficPolicy: Local, externally accessible, with empty endpoints',
    svc: { externalLocal: true, external: true },
    endpoints: [],
    cluster: [],
    local: [],
    all: [],
  },
  {
    name: 'externalTrafficPolicy: Local, externally accessible, but all endpoints are remote',
    svc: { externalLocal: true, external: true },
    endpoints: [{ ip: `${Y}.0` }, { ip: `${Y}.1` }],
    cluster: [`${Y}.0`, `${Y}.1`],
    local: [],
    all: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'externalTrafficPolicy: Local, externally accessible, all endpoints are local',
    svc: { externalLocal: true, external: true },
    endpoints: [
      { ip: `${Y}.0`, local: true },
      { ip: `${Y}.1`, local: true },
    ],
    cluster: [`${Y}.0`, `${Y}.1`],
    local: [`${Y}.0`, `${Y}.1`],
    all: [`${Y}.0`, `${Y}.1`],
  },
  {
    name: 'externalTrafficPolicy: Local, externally accessible, some endpoints are local',
    svc: { externalLocal: true, external: true },
    endpoints: [{ ip: `${Y}.0`, local: true }, { ip: `${Y}.1` }],
    cluster: [`${Y}.0`, `${Y}.1`],
    local: [`${Y}.0`],
    all: [`${Y}.0`, `${Y}.1`],
  },
  // kproxy's own rows, for what upstream's table leaves implicit.
  {
    name: 'node hints are used even when the zone hints miss this zone',
    node: { zone: 'zone-z', name: 'node-1' },
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'], nodes: ['node-1'] },
      { ip: `${X}.4`, zones: ['zone-b'], nodes: ['node-2'] },
    ],
    cluster: [`${X}.3`],
  },
  {
    name: 'a not-ready endpoint without hints does not stop topology (only ready endpoints count)',
    node: A,
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'] },
      { ip: `${X}.4`, ready: false },
      { ip: `${X}.5`, zones: ['zone-b'] },
    ],
    cluster: [`${X}.3`],
  },
  {
    name: 'all endpoints terminating: the fallback ignores hints',
    node: A,
    endpoints: [
      { ip: `${X}.3`, zones: ['zone-a'], ready: false, serving: true, terminating: true },
      { ip: `${X}.4`, zones: ['zone-b'], ready: false, serving: true, terminating: true },
    ],
    cluster: [`${X}.3`, `${X}.4`],
  },
];

function ips(endpoints: readonly Endpoint[]): string[] {
  return endpoints.map((e) => e.ip).sort();
}

describe('selectEndpoints: upstream TestCategorizeEndpoints', () => {
  for (const row of rows) {
    it(row.name, () => {
      const svc = row.svc ?? {};
      const node = { nodeName: row.node?.name ?? NODE, zone: row.node?.zone || undefined };
      const selection = selectEndpoints(
        row.endpoints.map(ep),
        {
          internal: svc.internalLocal ? 'Local' : 'Cluster',
          external: svc.externalLocal ? 'Local' : 'Cluster',
        },
        node,
      );
      // As upstream UsesClusterEndpoints: external traffic needs them even with Local (short circuit).
      const usesCluster = !svc.internalLocal || svc.external === true;
      const usesLocal = svc.internalLocal === true || (svc.external === true && svc.externalLocal === true);
      assert.equal(usesCluster, row.cluster !== undefined, 'the row names exactly the sets the service uses');
      assert.equal(usesLocal, row.local !== undefined, 'the row names exactly the sets the service uses');
      if (row.cluster !== undefined)
        assert.deepEqual(ips(selection.clusterEndpoints), [...row.cluster].sort());
      if (row.local !== undefined) assert.deepEqual(ips(selection.localEndpoints), [...row.local].sort());
      const reachable = [
        ...(usesCluster ? selection.clusterEndpoints : []),
        ...(usesLocal ? selection.localEndpoints : []),
      ];
      const all = row.all ?? row.cluster ?? row.local ?? [];
      assert.deepEqual([...new Set(ips(reachable))], [...all].sort());
    });
  }
});

describe('decideTopology', () => {
  const cases: readonly {
    name: string;
    node?: { nodeName?: string; zone?: string };
    endpoints: readonly Ep[];
    mode: TopologyMode | undefined;
    reason: string;
  }[] = [
    { name: 'no hints at all', endpoints: [{ ip: `${X}.3` }], mode: undefined, reason: 'no hints' },
    {
      name: 'zone hints for this zone',
      endpoints: [{ ip: `${X}.3`, zones: ['zone-a'] }],
      mode: 'PreferSameZone',
      reason: 'hints for zone zone-a used',
    },
    {
      name: 'an endpoint without a zone hint',
      endpoints: [{ ip: `${X}.3`, zones: ['zone-a'] }, { ip: `${X}.4` }],
      mode: undefined,
      reason: `zone hints ignored: endpoint ${X}.4:80 has no zone hint`,
    },
    {
      name: 'no zone hint for this zone',
      endpoints: [{ ip: `${X}.3`, zones: ['zone-b'] }],
      mode: undefined,
      reason: 'zone hints ignored: none is for zone zone-a',
    },
    {
      name: 'a node without a zone label',
      node: { nodeName: NODE },
      endpoints: [{ ip: `${X}.3`, zones: ['zone-a'] }],
      mode: undefined,
      reason: 'zone hints ignored: this node has no topology.kubernetes.io/zone label',
    },
    {
      name: 'node hints for this node',
      endpoints: [{ ip: `${X}.3`, zones: ['zone-a'], nodes: [NODE] }],
      mode: 'PreferSameNode',
      reason: 'hints for node node-a used',
    },
    {
      name: 'node hints for other nodes: zone hints used, and the node hints said why not',
      endpoints: [{ ip: `${X}.3`, zones: ['zone-a'], nodes: ['node-b'] }],
      mode: 'PreferSameZone',
      reason: 'hints for zone zone-a used (node hints ignored: none is for node node-a)',
    },
    {
      name: 'an endpoint without any hint: both kinds ignored',
      endpoints: [{ ip: 'fd00::4' }, { ip: `${X}.3`, zones: ['zone-a'], nodes: [NODE] }],
      mode: undefined,
      reason:
        'node hints ignored: endpoint [fd00::4]:80 has no node hint; zone hints ignored: endpoint [fd00::4]:80 has no zone hint',
    },
    {
      name: 'no ready endpoint',
      endpoints: [{ ip: `${X}.3`, zones: ['zone-a'], ready: false }],
      mode: undefined,
      reason: 'hints not considered: no endpoint is ready',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const node = {
        nodeName: c.node?.nodeName ?? NODE,
        zone: c.node === undefined ? 'zone-a' : c.node.zone,
      };
      assert.deepEqual(decideTopology(c.endpoints.map(ep), node), { mode: c.mode, reason: c.reason });
    });
  }

  it('writes IPv6 endpoints in brackets', () => {
    assert.equal(endpointAddress(ep({ ip: 'fd00::4' })), '[fd00::4]:80');
  });
});
