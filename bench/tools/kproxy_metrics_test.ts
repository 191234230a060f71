import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSyncDurations, syncBetween } from './kproxy_metrics.ts';

/** An excerpt of kproxy's /metrics after a full sync and one partial sync. */
const EXPOSITION = `# HELP kubeproxy_sync_full_proxy_rules_duration_seconds SyncProxyRules latency in seconds for full resyncs
# TYPE kubeproxy_sync_full_proxy_rules_duration_seconds histogram
kubeproxy_sync_full_proxy_rules_duration_seconds_bucket{le="0.001"} 0
kubeproxy_sync_full_proxy_rules_duration_seconds_bucket{le="+Inf"} 1
kubeproxy_sync_full_proxy_rules_duration_seconds_sum 0.8123456
kubeproxy_sync_full_proxy_rules_duration_seconds_count 1
# TYPE kubeproxy_sync_partial_proxy_rules_duration_seconds histogram
kubeproxy_sync_partial_proxy_rules_duration_seconds_bucket{le="+Inf"} 1
kubeproxy_sync_partial_proxy_rules_duration_seconds_sum 0.0124
kubeproxy_sync_partial_proxy_rules_duration_seconds_count 1
kubeproxy_sync_proxy_rules_duration_seconds_sum 0.8247456
kubeproxy_sync_proxy_rules_duration_seconds_count 2
`;

describe('parseSyncDurations', () => {
  it('takes the sum and count of the full and the partial histograms, not of the combined one', () => {
    assert.deepEqual(parseSyncDurations(EXPOSITION), {
      full: { sum: 0.8123456, count: 1 },
      partial: { sum: 0.0124, count: 1 },
    });
  });

  it('names a missing histogram', () => {
    const text = EXPOSITION.split('\n')
      .filter((l) => !l.startsWith('kubeproxy_sync_partial_proxy_rules_duration_seconds_count'))
      .join('\n');
    assert.throws(
      () => parseSyncDurations(text),
      /no sample kubeproxy_sync_partial_proxy_rules_duration_seconds_count/,
    );
  });
});

describe('syncBetween', () => {
  it('gives the one sync between two readings, in ms', () => {
    assert.equal(syncBetween({ sum: 0.5, count: 1 }, { sum: 0.5124, count: 2 }), 12.4);
    assert.equal(syncBetween(undefined, { sum: 0.8123456, count: 1 }), 812.346);
  });

  it('says nothing when the readings span no sync or several', () => {
    assert.equal(syncBetween({ sum: 0.5, count: 1 }, { sum: 0.5, count: 1 }), undefined);
    assert.equal(syncBetween(undefined, { sum: 0.9, count: 2 }), undefined);
  });
});
