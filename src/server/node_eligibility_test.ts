import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Node } from '@kubernetes/client-node';
import { isNodeEligible, TO_BE_DELETED_TAINT } from './node_eligibility.ts';

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
