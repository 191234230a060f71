import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProblem } from './problem.ts';
import { type NodeSpec, REGION_LABEL, validateNode, ZONE_LABEL } from './validate_node.ts';

function node(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-a', labels: { [ZONE_LABEL]: 'zone-a', [REGION_LABEL]: 'region-1' } },
    spec: { podCIDRs: ['198.19.0.0/24', '2001:2:0:1::/64'] },
    status: {
      addresses: [
        { type: 'Hostname', address: 'node-a' },
        { type: 'ExternalIP', address: '198.18.9.9' },
        { type: 'InternalIP', address: '198.18.0.1' },
        { type: 'InternalIP', address: '2001:2::1' },
        { type: 'InternalIP', address: '198.18.0.1' },
      ],
    },
    ...overrides,
  };
}

function valid(obj: unknown): NodeSpec {
  const result = validateNode(obj, 'node.yaml');
  assert.equal(result.ok, true, JSON.stringify(result));
  return (result as { value: NodeSpec }).value;
}

function problems(obj: unknown): string[] {
  const result = validateNode(obj, 'node.yaml');
  assert.equal(result.ok, false, JSON.stringify(result));
  return result.ok === false ? result.problems.map(formatProblem) : [];
}

describe('validateNode', () => {
  it('reads the zone, region, InternalIP addresses, pod CIDRs and liveness of a node', () => {
    assert.deepEqual(valid(node()), {
      name: 'node-a',
      zone: 'zone-a',
      region: 'region-1',
      addresses: ['198.18.0.1', '2001:2::1'],
      podCIDRs: ['198.19.0.0/24', '2001:2:0:1::/64'],
      deleting: false,
      taints: [],
    });
  });

  it('falls back to ExternalIP addresses, and to the singular podCIDR', () => {
    const spec = valid(
      node({
        spec: { podCIDR: '198.19.7.0/24' },
        status: { addresses: [{ type: 'ExternalIP', address: '198.18.9.9' }] },
      }),
    );
    assert.deepEqual(spec.addresses, ['198.18.9.9']);
    assert.deepEqual(spec.podCIDRs, ['198.19.7.0/24']);
  });

  it('accepts a bare node: no labels, addresses, CIDRs or taints', () => {
    assert.deepEqual(valid({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } }), {
      name: 'n',
      zone: undefined,
      region: undefined,
      addresses: [],
      podCIDRs: [],
      deleting: false,
      taints: [],
    });
  });

  it('sees a node being deleted and its taints', () => {
    const spec = valid(
      node({
        metadata: { name: 'node-a', deletionTimestamp: '2025-01-01T00:00:00Z' },
        spec: {
          taints: [{ key: 'ToBeDeletedByClusterAutoscaler', value: '1700000000', effect: 'NoSchedule' }],
        },
      }),
    );
    assert.equal(spec.deleting, true);
    assert.deepEqual(spec.taints, [
      { key: 'ToBeDeletedByClusterAutoscaler', value: '1700000000', effect: 'NoSchedule' },
    ]);
    assert.equal(valid(node({ metadata: { name: 'n', deletionTimestamp: new Date(0) } })).deleting, true);
  });

  it('reports every bad field with file, object and field', () => {
    assert.deepEqual(
      problems({
        kind: 'Node',
        metadata: { name: 'node-a', labels: { [ZONE_LABEL]: 'bad zone!' }, deletionTimestamp: 5 },
        spec: {
          podCIDRs: ['198.19.0.0/24', '198.19.1.0/24'],
          taints: [{ key: 'a' }, { key: '', effect: 'Sometimes' }],
        },
        status: { addresses: [{ type: 'InternalIP', address: '198.18.0.300' }, { type: 'InternalIP' }] },
      }),
      [
        'node.yaml: Node node-a: metadata.labels["topology.kubernetes.io/zone"]: not a label value: "bad zone!"',
        'node.yaml: Node node-a: metadata.deletionTimestamp: must be a timestamp, got 5',
        'node.yaml: Node node-a: spec.podCIDRs[1]: a second IPv4 CIDR: at most one per IP family',
        'node.yaml: Node node-a: spec.taints[0].effect: required',
        'node.yaml: Node node-a: spec.taints[1].key: required',
        'node.yaml: Node node-a: spec.taints[1].effect: must be NoSchedule, PreferNoSchedule or NoExecute, got "Sometimes"',
        'node.yaml: Node node-a: status.addresses[0].address: not an IP address: "198.18.0.300"',
        'node.yaml: Node node-a: status.addresses[1].address: required',
      ],
    );
  });

  it('requires a valid name and mappings where the API has them', () => {
    assert.deepEqual(problems({ kind: 'Node', metadata: {} }), ['node.yaml: Node: metadata.name: required']);
    assert.deepEqual(problems({ kind: 'Node', metadata: { name: 'Bad_Name' }, spec: [] }), [
      'node.yaml: Node "Bad_Name": metadata.name: not a DNS-1123 subdomain: "Bad_Name"',
      'node.yaml: Node "Bad_Name": spec: must be a mapping, got a list',
    ]);
    assert.deepEqual(problems('node'), ['node.yaml: Node: not a mapping: got "node"']);
    assert.deepEqual(problems(node({ spec: { podCIDRs: ['x'] } })), [
      'node.yaml: Node node-a: spec.podCIDRs[0]: not a CIDR: "x"',
    ]);
  });
});
