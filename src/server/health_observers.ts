/**
 * Connects the proxy health ({@link HealthState}) and the per-service health checks
 * ({@link ServiceHealthServer}) to the daemon's sync notifications (`SyncObserver` in `daemon.ts`).
 *
 * @module
 */
import type { Logger } from 'pino';
import type { SyncObserver } from '../contracts/sync.ts';
import type { HealthState } from './health_state.ts';
import type { ServiceHealthServer } from './service_health.ts';
import { serviceHealthTargets } from './service_health_targets.ts';

/**
 * A daemon observer that feeds {@link HealthState}: a queued change starts the health timeout, a
 * successful sync ends it, a failed one leaves it running. `syncStarted` is there for a daemon that
 * reports when a sync takes its snapshot (then changes queued during a sync stay pending after it).
 *
 * @param health the proxy health
 * @returns the observer
 * @example new Daemon({ ...options, observers: [healthObserver(health)] })
 */
export function healthObserver(health: HealthState): SyncObserver & { syncStarted(): void } {
  return {
    changeQueued() {
      health.queuedUpdate();
    },
    syncStarted() {
      health.syncStarted();
    },
    syncSucceeded() {
      health.updated();
    },
    syncFailed() {
      health.syncFailed();
    },
  };
}

/**
 * A daemon observer that brings the per-service health-check listeners in line with every successfully
 * synced state (upstream updates them after the rules are in place). Listener work runs in the
 * background; bind failures are logged as warnings and retried on the next sync.
 *
 * @param serviceHealth the listeners
 * @param logger where failures go
 * @returns the observer
 * @example new Daemon({ ...options, observers: [serviceHealthObserver(serviceHealth, logger)] })
 */
export function serviceHealthObserver(serviceHealth: ServiceHealthServer, logger: Logger): SyncObserver {
  return {
    syncSucceeded({ state }) {
      void serviceHealth.sync(serviceHealthTargets(state)).then((result) => {
        for (const key of result.opened) logger.info({ service: key }, 'Opened service health check');
        for (const key of result.closed) logger.info({ service: key }, 'Closed service health check');
        for (const { key, port, error } of result.failed) {
          logger.warn({ service: key, port, err: error }, 'Cannot serve service health check: will retry');
        }
      });
    },
  };
}
