import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Node } from '@kubernetes/client-node';
import type { NodeSpec } from '../model/validate_node.ts';
import { isNodeEligible, nodeIneligibleReason, TO_BE_DELETED_TAINT } from './node_eligibility.ts';

describe('isNodeEligible', () => {
  const cases: { name: string; node: V1Node; eligible: boolean }[] = [
    { name: 'a plain node', node: { metadata: { name: 'n1' } }, eligible: true },
    {
      name: 'a node with unrelated taints',
      node: { spec: { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] } },
      eligible: true,
    },
    {
      name: 'a node the autoscaler is about to delete',
      node: { spec: { taints: [{ key: TO_BE_DELETED_TAINT, effect: 'NoSchedule' }] } },
      eligible: false,
    },
    { name: 'a node being deleted', node: { metadata: { deletionTimestamp: new Date(0) } }, eligible: false },
  ];
  for (const { name, node, eligible } of cases) {
    it(`${eligible ? 'accepts' : 'rejects'} ${name}`, () => {
      assert.equal(isNodeEligible(node), eligible);
    });
  }
});

describe('nodeIneligibleReason', () => {
  const base: NodeSpec = {
    name: 'node-a',
    zone: undefined,
    region: undefined,
    addresses: [],
    podCIDRs: [],
    deleting: false,
    taints: [],
  };
  it('finds nothing wrong with a plain node or unrelated taints', () => {
    assert.equal(nodeIneligibleReason(base), undefined);
    assert.equal(
      nodeIneligibleReason({
        ...base,
        taints: [{ key: 'node.kubernetes.io/unschedulable', value: '', effect: 'NoSchedule' }],
      }),
      undefined,
    );
  });
  it('names deletion and the autoscaler taint', () => {
    assert.equal(
      nodeIneligibleReason({ ...base, deleting: true }),
      'the node is being deleted (deletionTimestamp set)',
    );
    assert.equal(
      nodeIneligibleReason({
        ...base,
        taints: [{ key: TO_BE_DELETED_TAINT, value: '1', effect: 'NoSchedule' }],
      }),
      'the node is tainted ToBeDeletedByClusterAutoscaler',
    );
  });
});
