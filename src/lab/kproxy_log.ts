/**
 * Reads kproxy's JSON log (`--log-format json`): the daemon's own "Synced proxy rules" line says how many
 * service ports a sync covered, what kind of sync it was and how long it took, so that whoever drives
 * the daemon (the end-to-end tests, the benchmarks) waits for that instead of guessing with sleeps.
 *
 * @module
 */
import type { SyncReport } from '../contracts/sync.ts';

/** One "Synced proxy rules" line of kproxy's JSON log. */
export interface LoggedSync {
  readonly kind: SyncReport['kind'];
  readonly durationMs: number;
  /** Every service port of the state the sync was made from. */
  readonly servicePorts: number;
  /** Service ports whose rules were (re)written. */
  readonly written: number;
  readonly restoreLines: number;
}

/**
 * Reads a "Synced proxy rules" line of kproxy's JSON log.
 *
 * @param line one log line
 * @returns the sync, or undefined for any other line
 * @example parseSyncLine('{"msg":"Synced proxy rules","kind":"full","durationMs":12,"servicePorts":2,"written":2,"restoreLines":40}')
 */
export function parseSyncLine(line: string): LoggedSync | undefined {
  if (!line.includes('Synced proxy rules')) return undefined;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (entry['msg'] !== 'Synced proxy rules') return undefined;
  const num = (key: string) => (typeof entry[key] === 'number' ? (entry[key] as number) : 0);
  return {
    kind: entry['kind'] === 'partial' ? 'partial' : 'full',
    durationMs: num('durationMs'),
    servicePorts: num('servicePorts'),
    written: num('written'),
    restoreLines: num('restoreLines'),
  };
}
