/**
 * What a sync reports and who hears about it: the daemon runs syncs, proxiers report them, metrics and
 * health observe them.
 *
 * @module
 */
import type { IPFamily, ProxyState, StateChange } from '../model/types.ts';

/** What a sync did, for logs and metrics. */
export interface SyncReport {
  readonly kind: 'full' | 'partial';
  /** Service ports whose rules were (re)written. */
  readonly servicePortsWritten: number;
  /** Bytes/lines sent to the kernel tool(s), when meaningful. */
  readonly restoreBytes: number;
  readonly restoreLines: number;
  /** Each IP family's own part, when the sync ran one Proxier per family (modes/dual_stack.ts). */
  readonly families?: ReadonlyMap<IPFamily, FamilySyncResult> | undefined;
}

/**
 * One IP family's part of a sync: its Proxier's report and the family's view of the state it synced
 * (the per-family metrics count on it), or why it failed; and how long it took.
 */
export type FamilySyncResult =
  | { readonly ok: true; readonly report: SyncReport; readonly state: ProxyState; readonly seconds: number }
  | { readonly ok: false; readonly error: unknown; readonly seconds: number };

/** How the daemon asks for a sync. */
export interface SyncOptions {
  /**
   * True for the periodic resync (`--iptables-sync-period`) and after a failed sync: rewrite everything
   * the mode owns instead of only what `change` names. A Proxier may also decide on its own to sync fully
   * (first sync, canary chain gone); it says so in {@link SyncReport.kind}.
   */
  readonly full: boolean;
  /**
   * Why the kernel state is being repaired (the daemon's integrity check found the rules damaged), or
   * undefined. A repair is a full sync, followed by removing what the outage left behind (modes/common
   * heal_conntrack.ts: connection-tracking entries created without NAT while the rules were missing).
   */
  readonly repair?: string | undefined;
}

/** What the daemon tells observers (metrics, health) about each sync. */
export interface SyncObserver {
  /** A change was queued (the first unsynced change since the last successful sync). */
  changeQueued?(at: number): void;
  /** Events not yet synced, after every event (for the `*_changes_pending` gauges). */
  pendingChanged?(pending: { readonly services: number; readonly endpoints: number }): void;
  /** A sync took its snapshot: changes queued after this stay pending after the sync. */
  syncStarted?(at: number): void;
  syncSucceeded?(info: {
    readonly report: SyncReport;
    readonly seconds: number;
    readonly change: StateChange;
    readonly state: ProxyState;
    readonly at: number;
  }): void;
  /** The integrity check between syncs found the kernel state damaged (a repair sync follows at once). */
  damageFound?(reason: string): void;
  syncFailed?(info: {
    readonly error: unknown;
    readonly seconds: number;
    readonly at: number;
    /**
     * Each IP family's part, when the daemon knows it (one Proxier per family): which family failed and
     * which synced (a family that synced keeps its rules and its metrics move).
     */
    readonly families?: ReadonlyMap<IPFamily, FamilySyncResult> | undefined;
  }): void;
}
