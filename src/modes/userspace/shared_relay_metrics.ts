/**
 * The relay metrics as each family's Proxier holds them. The daemon's {@link RelayMetrics} is one per
 * process, keyed by service port, and a dual-stack service port is relayed by both families' Proxiers: both
 * count into its one series (the series have no family label), and it must stay exported until neither
 * relays it any more. Without this, the IPv6 Proxier forgetting a service port it stopped serving would
 * drop the series the IPv4 Proxier still counts into.
 *
 * @module
 */
import { NOOP_RELAY_METRICS, type RelayMetrics } from '../../metrics/relay_metrics.ts';
import type { ServicePortKey } from '../../model/types.ts';

/** Per process-wide metrics: how many Proxiers hold each service port. */
const holders = new WeakMap<RelayMetrics, Map<ServicePortKey, number>>();

/**
 * One Proxier's hold on the shared relay metrics: {@link RelayMetrics.servicePort} takes a hold on the key
 * (once per Proxier), {@link RelayMetrics.forget} lets it go, and the series is forgotten when the last
 * holder lets go.
 *
 * @param metrics the process's relay metrics
 * @returns this Proxier's view of them
 * @example const relay = heldRelayMetrics(deps.metrics?.relay ?? NOOP_RELAY_METRICS)
 */
export function heldRelayMetrics(metrics: RelayMetrics): RelayMetrics {
  if (metrics === NOOP_RELAY_METRICS) return metrics;
  let counts = holders.get(metrics);
  if (counts === undefined) {
    counts = new Map();
    holders.set(metrics, counts);
  }
  const shared = counts;
  const held = new Set<ServicePortKey>();
  return {
    servicePort(key) {
      if (!held.has(key)) {
        held.add(key);
        shared.set(key, (shared.get(key) ?? 0) + 1);
      }
      return metrics.servicePort(key);
    },
    forget(key) {
      if (!held.delete(key)) return;
      const left = (shared.get(key) ?? 1) - 1;
      if (left > 0) {
        shared.set(key, left);
        return;
      }
      shared.delete(key);
      metrics.forget(key);
    },
  };
}
