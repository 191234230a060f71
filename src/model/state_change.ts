/**
 * Combining {@link StateChange}s: when a sync fails, its change is carried into the next one so that no
 * change is lost, and latency is measured from the first time it was seen.
 *
 * @module
 */
import type { ServicePortKey, StateChange } from './types.ts';

/** A change that carries nothing. */
export const EMPTY_CHANGE: StateChange = {
  changed: new Set(),
  removed: new Set(),
  firstSeen: new Map(),
  serviceEvents: 0,
  endpointEvents: 0,
};

/**
 * Merges an older change into a newer one.
 *
 * @param older the change that was not synced
 * @param newer the change taken since
 * @param isPresent whether a key exists in the newer state (a key removed and re-added is no longer removed)
 * @returns the union, keeping the earliest first-seen time per key
 * @example const carried = mergeChanges(failed, next, (k) => state.servicePorts.has(k))
 */
export function mergeChanges(
  older: StateChange,
  newer: StateChange,
  isPresent: (key: ServicePortKey) => boolean,
): StateChange {
  const changed = new Set([...older.changed, ...newer.changed]);
  const removed = new Set([...older.removed, ...newer.removed].filter((k) => !isPresent(k)));
  const firstSeen = new Map(newer.firstSeen);
  for (const [key, at] of older.firstSeen) {
    const seen = firstSeen.get(key);
    if (seen === undefined || at < seen) firstSeen.set(key, at);
  }
  return {
    changed,
    removed,
    firstSeen,
    serviceEvents: older.serviceEvents + newer.serviceEvents,
    endpointEvents: older.endpointEvents + newer.endpointEvents,
  };
}
