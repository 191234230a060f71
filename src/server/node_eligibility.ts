/**
 * Whether this node should still receive load-balancer traffic, as kube-proxy's `/healthz` judges it.
 *
 * @module
 */
import type { V1Node } from '@kubernetes/client-node';

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
