/**
 * Connects {@link ProxyMetrics} to the daemon's sync notifications (`SyncObserver` in `daemon.ts`).
 *
 * @module
 */
import type { SyncObserver } from '../contracts/sync.ts';
import { countNoLocalEndpoints } from './no_local_endpoints.ts';
import type { ProxyMetrics } from './proxy_metrics.ts';

/** Kernel restore tools: a failure of one of these is a "restore failure" in kube-proxy's sense. */
const RESTORE_TOOLS =
  /(^|[\s/])(ip6?tables-restore|ip6?tables-nft-restore|ip6?tables-legacy-restore|ipvsadm-restore)\b/;

/**
 * A daemon observer that keeps the sync metrics up to date:
 * - a queued change sets the last-queued timestamp;
 * - a successful sync observes the duration histograms and the network programming latency of every
 *   change it carried, counts the service and endpoint events it folded in (a failed sync's events are
 *   carried into the next one, so each event counts once), zeroes the pending gauges and sets the
 *   no-local-endpoints gauges from the synced state;
 * - a failed sync observes its duration (kind unknown) and, when a restore tool failed (a `KernelError`
 *   anywhere in the `cause` chain whose command is iptables-restore or ipvsadm-restore), counts a restore
 *   failure.
 *
 * @param metrics the metrics to update
 * @returns the observer
 * @example new Daemon({ ...options, observers: [metricsObserver(metrics), healthObserver(health)] })
 */
export function metricsObserver(metrics: ProxyMetrics): SyncObserver {
  return {
    changeQueued(at) {
      metrics.syncQueued(at);
    },
    pendingChanged({ services, endpoints }) {
      metrics.setPending(services, endpoints);
    },
    syncSucceeded({ report, seconds, change, state, at }) {
      metrics.observeSync(report.kind, seconds, report);
      metrics.observeProgrammingLatency(change.firstSeen.values(), at);
      metrics.countChanges(change.serviceEvents, change.endpointEvents);
      metrics.setPending(0, 0);
      metrics.noLocalEndpoints(countNoLocalEndpoints(state));
    },
    syncFailed({ error, seconds }) {
      metrics.observeFailedSync(seconds);
      if (isRestoreFailure(error)) metrics.restoreFailure('full');
    },
  };
}

function isRestoreFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const { code, command } = e as { code?: unknown; command?: unknown };
    if (code === 'KPROXY_KERNEL' && typeof command === 'string' && RESTORE_TOOLS.test(command)) return true;
  }
  return false;
}
