/**
 * Connects {@link ProxyMetrics} to the daemon's sync notifications (`SyncObserver` in `daemon.ts`).
 *
 * @module
 */
import type { FamilySyncResult, SyncObserver } from '../contracts/sync.ts';
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
 * With one Proxier per IP family (the daemon's sync reports `families`), the per-sync metrics go to each
 * family's series (`ip_family`, see {@link ProxyMetrics.forFamily}): its duration (its Proxier's time plus
 * the part of the sync the families share, the tracker's snapshot) and report, its
 * no-local-endpoint counts on its view of the state, its failure and restore failure; a family that
 * synced while the other failed counts as synced. Changes and programming latency stay one per sync.
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
      if (report.families === undefined) {
        metrics.observeSync(report.kind, seconds, report);
        metrics.noLocalEndpoints(countNoLocalEndpoints(state));
      } else {
        const shared = sharedSeconds(seconds, report.families);
        for (const [family, result] of report.families)
          observeFamily(metrics.forFamily(family), result, shared);
      }
      metrics.observeProgrammingLatency(change.firstSeen.values(), at);
      metrics.countChanges(change.serviceEvents, change.endpointEvents);
      metrics.setPending(0, 0);
    },
    damageFound() {
      metrics.damageFound();
    },
    syncFailed({ error, seconds, families }) {
      if (families === undefined || families.size === 0) {
        metrics.observeFailedSync(seconds);
        if (isRestoreFailure(error)) metrics.restoreFailure('full');
        return;
      }
      const shared = sharedSeconds(seconds, families);
      for (const [family, result] of families) observeFamily(metrics.forFamily(family), result, shared);
    },
  };
}

/**
 * The part of a sync no family's Proxier ran: taking the tracker's snapshot and merging the changes. Each
 * family's duration includes it, as each upstream proxier's sync includes reading its own change trackers;
 * with one family, its duration is the whole sync's, as the sync's log line says.
 */
function sharedSeconds(seconds: number, families: ReadonlyMap<unknown, FamilySyncResult>): number {
  let own = 0;
  for (const result of families.values()) own += result.seconds;
  return Math.max(0, seconds - own);
}

/**
 * One family's part of a sync, on its handle: a family that synced while the other failed did program
 * its rules (its last-sync time moves, as upstream's per-family proxier's would).
 */
function observeFamily(metrics: ProxyMetrics, result: FamilySyncResult, shared: number): void {
  const seconds = result.seconds + shared;
  if (result.ok) {
    metrics.observeSync(result.report.kind, seconds, result.report);
    metrics.noLocalEndpoints(countNoLocalEndpoints(result.state));
  } else {
    metrics.observeFailedSync(seconds);
    if (isRestoreFailure(result.error)) metrics.restoreFailure('full');
  }
}

function isRestoreFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const { code, command } = e as { code?: unknown; command?: unknown };
    if (code === 'KPROXY_KERNEL' && typeof command === 'string' && RESTORE_TOOLS.test(command)) return true;
  }
  return false;
}
