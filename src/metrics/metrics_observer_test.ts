import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FamilySyncResult } from '../contracts/sync.ts';
import { KernelError } from '../kernel/exec.ts';
import { endpoint, proxyState, servicePortState, stateChange } from '../model/testing/fixtures.ts';
import type { IPFamily, StateChange } from '../model/types.ts';
import { parseRfc3339 } from '../model/validate_endpoints.ts';
import { metricsObserver } from './metrics_observer.ts';
import { ProxyMetrics } from './proxy_metrics.ts';
import { parseExposition, type Samples, seriesKey } from './testing/exposition.ts';

const REMOTE = endpoint({ ip: '198.18.2.1', nodeName: 'n2' });

/** One NodePort service port with externalTrafficPolicy Local whose only endpoint is on another node. */
const NO_LOCAL = servicePortState({
  serviceName: 'a',
  type: 'NodePort',
  nodePort: 30080,
  externalTrafficPolicy: 'Local',
  allEndpoints: [REMOTE],
  clusterEndpoints: [REMOTE],
  internalEndpoints: [REMOTE],
});
const STATE = proxyState([NO_LOCAL], { version: 3, nodeName: 'n1' });

function change(firstSeen: [string, number][], serviceEvents: number, endpointEvents: number): StateChange {
  return stateChange({
    changed: new Set(firstSeen.map(([k]) => k)),
    firstSeen: new Map(firstSeen),
    serviceEvents,
    endpointEvents,
  });
}

async function samples(metrics: ProxyMetrics): Promise<Samples> {
  return parseExposition(await metrics.metricsText());
}

describe('metricsObserver', () => {
  it('records a queued change, then a successful sync with its latency and events', async () => {
    const metrics = new ProxyMetrics({ mode: 'iptables' });
    const observer = metricsObserver(metrics);
    metrics.setPending(4, 9);
    observer.changeQueued?.(10_000);
    observer.syncSucceeded?.({
      report: { kind: 'partial', servicePortsWritten: 2, restoreBytes: 300, restoreLines: 10 },
      seconds: 0.05,
      change: change(
        [
          ['default/a:/TCP', 9_000],
          ['default/b:/TCP', 10_500],
        ],
        1,
        4,
      ),
      state: STATE,
      at: 11_000,
    });
    const s = await samples(metrics);
    assert.equal(s.get('kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds'), 10);
    assert.equal(s.get('kubeproxy_sync_partial_proxy_rules_duration_seconds_count'), 1);
    assert.equal(s.get('kubeproxy_network_programming_duration_seconds_count'), 2);
    assert.equal(s.get(seriesKey('kubeproxy_network_programming_duration_seconds_bucket', { le: '0.5' })), 1);
    assert.equal(s.get(seriesKey('kubeproxy_network_programming_duration_seconds_bucket', { le: '2' })), 2);
    assert.equal(s.get('kubeproxy_sync_proxy_rules_service_changes_total'), 1);
    assert.equal(s.get('kubeproxy_sync_proxy_rules_endpoint_changes_total'), 4);
    assert.equal(s.get('kubeproxy_sync_proxy_rules_service_changes_pending'), 0);
    assert.equal(s.get('kubeproxy_sync_proxy_rules_endpoint_changes_pending'), 0);
    const noLocal = 'kubeproxy_sync_proxy_rules_no_local_endpoints_total';
    assert.equal(s.get(seriesKey(noLocal, { traffic_policy: 'external' })), 1);
    assert.equal(s.get(seriesKey(noLocal, { traffic_policy: 'internal' })), 0);
  });

  it('counts a restore failure only when a restore tool failed, however deep in the cause chain', async () => {
    const metrics = new ProxyMetrics({ mode: 'iptables' });
    const observer = metricsObserver(metrics);
    const restore = new KernelError('ip netns exec kpt-x-1 iptables-restore --noflush', 2, 'line 3 failed');
    observer.syncFailed?.({ error: new Error('Sync failed', { cause: restore }), seconds: 0.2, at: 1 });
    observer.syncFailed?.({ error: new KernelError('ipvsadm-restore', 1, 'bad'), seconds: 0.2, at: 2 });
    observer.syncFailed?.({ error: new KernelError('ipset restore', 1, 'bad'), seconds: 0.2, at: 3 });
    observer.syncFailed?.({ error: new Error('planning bug'), seconds: 0.2, at: 4 });
    const s = await samples(metrics);
    assert.equal(s.get('kubeproxy_sync_proxy_rules_iptables_restore_failures_total'), 2);
    assert.equal(s.get('kproxy_sync_proxy_rules_failures_total'), 4);
    assert.equal(s.get('kubeproxy_sync_proxy_rules_duration_seconds_count'), 4);
    assert.equal(s.get('kubeproxy_sync_proxy_rules_last_timestamp_seconds'), 0, 'no successful sync yet');
  });

  it('measures programming latency from an EndpointSlice trigger time, by the fake clock of the sync', async () => {
    const metrics = new ProxyMetrics({ mode: 'iptables' });
    const observer = metricsObserver(metrics);
    // The annotation says the pod became ready 2.75 s before the rules were in place; kproxy saw the
    // event only 0.1 s before (the tracker put the trigger time in firstSeen, see proxy_state_tracker_test).
    const trigger = parseRfc3339('2025-01-02T03:04:05.250Z')!;
    const clock = { now: trigger + 2_750 };
    observer.syncSucceeded?.({
      report: { kind: 'full', servicePortsWritten: 1, restoreBytes: 10, restoreLines: 1 },
      seconds: 0.01,
      change: change([['default/a:/TCP', trigger]], 0, 1),
      state: STATE,
      at: clock.now,
    });
    const s = await samples(metrics);
    const bucket = (le: string) =>
      s.get(seriesKey('kubeproxy_network_programming_duration_seconds_bucket', { le }));
    assert.equal(s.get('kubeproxy_network_programming_duration_seconds_sum'), 2.75);
    assert.equal(bucket('2'), 0);
    assert.equal(bucket('3'), 1);
  });

  it('observes 0, not a negative latency, for a trigger time ahead of the clock', async () => {
    const metrics = new ProxyMetrics({ mode: 'iptables' });
    metricsObserver(metrics).syncSucceeded?.({
      report: { kind: 'full', servicePortsWritten: 1, restoreBytes: 10, restoreLines: 1 },
      seconds: 0.01,
      change: change([['default/a:/TCP', 50_000]], 0, 1),
      state: STATE,
      at: 49_000,
    });
    const s = await samples(metrics);
    assert.equal(s.get(seriesKey('kubeproxy_network_programming_duration_seconds_bucket', { le: '0' })), 1);
  });

  it('records each family of a dual-stack sync on its own series, no-local counts on its own view', async () => {
    const metrics = new ProxyMetrics({ mode: 'iptables', now: () => 7_000 });
    const observer = metricsObserver(metrics);
    const v4State = proxyState([NO_LOCAL], { version: 3, nodeName: 'n1', ipFamily: 'IPv4' });
    const v6State = proxyState([], { version: 3, nodeName: 'n1', ipFamily: 'IPv6' });
    const v4 = { kind: 'partial', servicePortsWritten: 1, restoreBytes: 100, restoreLines: 3 } as const;
    const v6 = { kind: 'full', servicePortsWritten: 0, restoreBytes: 50, restoreLines: 2 } as const;
    observer.syncSucceeded?.({
      report: {
        kind: 'full',
        servicePortsWritten: 1,
        restoreBytes: 150,
        restoreLines: 5,
        families: new Map<IPFamily, FamilySyncResult>([
          ['IPv4', { ok: true, report: v4, state: v4State, seconds: 0.002 }],
          ['IPv6', { ok: true, report: v6, state: v6State, seconds: 0.02 }],
        ]),
      },
      seconds: 0.03,
      change: change([['default/a:/TCP', 6_000]], 1, 1),
      state: STATE,
      at: 7_000,
    });
    const s = await samples(metrics);
    const f4 = { ip_family: 'IPv4' };
    const f6 = { ip_family: 'IPv6' };
    assert.equal(s.get(seriesKey('kubeproxy_sync_partial_proxy_rules_duration_seconds_count', f4)), 1);
    assert.equal(s.get(seriesKey('kubeproxy_sync_full_proxy_rules_duration_seconds_count', f4)), 0);
    assert.equal(s.get(seriesKey('kubeproxy_sync_full_proxy_rules_duration_seconds_count', f6)), 1);
    // Each family's own time plus the part of the sync they share (0.03 - 0.002 - 0.02: the snapshot).
    assert.equal(s.get(seriesKey('kubeproxy_sync_full_proxy_rules_duration_seconds_sum', f6)), 0.028);
    assert.equal(s.get(seriesKey('kubeproxy_sync_partial_proxy_rules_duration_seconds_sum', f4)), 0.01);
    assert.equal(
      s.get('kubeproxy_sync_proxy_rules_duration_seconds_count'),
      undefined,
      'no unlabelled series',
    );
    assert.equal(s.get(seriesKey('kubeproxy_sync_proxy_rules_last_timestamp_seconds', f6)), 7);
    assert.equal(s.get(seriesKey('kproxy_sync_proxy_rules_last_restore_bytes', f4)), 100);
    assert.equal(s.get(seriesKey('kproxy_sync_proxy_rules_last_restore_bytes', f6)), 50);
    const noLocal = 'kubeproxy_sync_proxy_rules_no_local_endpoints_total';
    assert.equal(s.get(seriesKey(noLocal, { traffic_policy: 'external', ...f4 })), 1);
    assert.equal(s.get(seriesKey(noLocal, { traffic_policy: 'external', ...f6 })), 0);
    // One per sync, unlabelled: the tracker's changes and their latency.
    assert.equal(s.get('kubeproxy_network_programming_duration_seconds_count'), 1);
    assert.equal(s.get('kubeproxy_sync_proxy_rules_service_changes_total'), 1);
  });

  it("gives a family alone the whole sync's duration (what the sync's log line says)", async () => {
    const metrics = new ProxyMetrics({ mode: 'iptables' });
    const report = { kind: 'full', servicePortsWritten: 1, restoreBytes: 10, restoreLines: 1 } as const;
    const v4State = proxyState([], { nodeName: 'n1', ipFamily: 'IPv4' });
    metricsObserver(metrics).syncSucceeded?.({
      report: {
        ...report,
        families: new Map([['IPv4', { ok: true, report, state: v4State, seconds: 0.04 }]]),
      },
      seconds: 0.05,
      change: change([], 0, 0),
      state: STATE,
      at: 1,
    });
    const s = await samples(metrics);
    const f4 = { ip_family: 'IPv4' };
    assert.equal(s.get(seriesKey('kubeproxy_sync_full_proxy_rules_duration_seconds_sum', f4)), 0.05);
    assert.equal(s.get(seriesKey('kubeproxy_sync_proxy_rules_duration_seconds_sum', f4)), 0.05);
  });

  it('counts a failed family on its series, and the family that synced as synced', async () => {
    const metrics = new ProxyMetrics({ mode: 'iptables', now: () => 9_000 });
    const observer = metricsObserver(metrics);
    const restore = new KernelError('ip6tables-restore --noflush', 2, 'line 3 failed');
    const v4State = proxyState([], { nodeName: 'n1', ipFamily: 'IPv4' });
    const report = { kind: 'full', servicePortsWritten: 1, restoreBytes: 10, restoreLines: 1 } as const;
    observer.syncFailed?.({
      error: new Error('Sync failed for IPv6', { cause: restore }),
      seconds: 0.3,
      at: 9_000,
      families: new Map<IPFamily, FamilySyncResult>([
        ['IPv4', { ok: true, report, state: v4State, seconds: 0.1 }],
        ['IPv6', { ok: false, error: restore, seconds: 0.2 }],
      ]),
    });
    const s = await samples(metrics);
    const f4 = { ip_family: 'IPv4' };
    const f6 = { ip_family: 'IPv6' };
    assert.equal(s.get(seriesKey('kubeproxy_sync_proxy_rules_iptables_restore_failures_total', f6)), 1);
    assert.equal(s.get(seriesKey('kubeproxy_sync_proxy_rules_iptables_restore_failures_total', f4)), 0);
    assert.equal(s.get(seriesKey('kproxy_sync_proxy_rules_failures_total', f6)), 1);
    assert.equal(s.get(seriesKey('kproxy_sync_proxy_rules_failures_total', f4)), 0);
    assert.equal(s.get(seriesKey('kubeproxy_sync_proxy_rules_duration_seconds_count', f6)), 1);
    assert.equal(s.get(seriesKey('kubeproxy_sync_proxy_rules_last_timestamp_seconds', f6)), 0);
    assert.equal(
      s.get(seriesKey('kubeproxy_sync_proxy_rules_last_timestamp_seconds', f4)),
      9,
      'IPv4 did sync',
    );
    assert.equal(s.get(seriesKey('kubeproxy_sync_full_proxy_rules_duration_seconds_count', f4)), 1);
  });
});
