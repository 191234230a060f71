/**
 * Whether this node should still receive load-balancer traffic, as kube-proxy's `/healthz` judges it.
 *
 * @module
 */
import type { V1Node } from '@kubernetes/client-node';
import type { NodeSpec } from '../model/validate_node.ts';

/** The taint the cluster autoscaler puts on a node before deleting it. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

/**
 * A node is eligible unless it is being deleted or carries the autoscaler's to-be-deleted taint
 * (upstream `NodeEligible`). Feed the result to `HealthState.setNodeEligible` on every Node event.
 *
 * @param node this proxy's Node object
 * @returns false when load balancers should stop sending traffic to this node
 * @example health.setNodeEligible(isNodeEligible(node))
 */
export function isNodeEligible(node: V1Node): boolean {
  // `!= null`: a deserialized object may carry an explicit null.
  if (node.metadata?.deletionTimestamp != null) return false;
  return !(node.spec?.taints ?? []).some((taint) => taint.key === TO_BE_DELETED_TAINT);
}

/**
 * Why this node should not receive load-balancer traffic, from the Node as a source delivers it (upstream
 * `NodeEligibleHandler`): it is being deleted, or the cluster autoscaler has tainted it for deletion.
 * `/healthz` then answers 503 with `nodeEligible: false`.
 *
 * @param node this proxy's Node, as validated by a source
 * @returns the reason, or undefined when the node is eligible
 * @example health.setNodeEligible(nodeIneligibleReason(node) === undefined)
 */
export function nodeIneligibleReason(node: NodeSpec): string | undefined {
  if (node.deleting) return 'the node is being deleted (deletionTimestamp set)';
  if (node.taints.some((taint) => taint.key === TO_BE_DELETED_TAINT))
    return `the node is tainted ${TO_BE_DELETED_TAINT}`;
  return undefined;
}
