// planOptionsForFamily: each family's planner gets its share of the flags, as upstream's per-family proxiers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planOptions } from '../model/testing/fixtures.ts';
import { type PlanOptions, planOptionsForFamily } from './plan_options.ts';

const BOTH: PlanOptions = planOptions({
  nodeIPs: ['198.18.0.100', '2001:2::100'],
  clusterCIDRs: ['198.18.64.0/18', '2001:2:0:40::/58'],
  nodePortAddresses: ['198.18.0.0/24', '2001:2::/64'],
  localDetector: { mode: 'NodeCIDR', cidrs: ['198.18.64.0/24', '2001:2:0:40::/64'] },
  ipvsTuning: {
    strictARP: true,
    excludeCIDRs: ['198.18.250.0/24', '2001:2:0:fa::/64'],
    tcpTimeoutMs: 0,
    tcpFinTimeoutMs: 0,
    udpTimeoutMs: 0,
  },
  masqueradeAll: true,
});

describe('planOptionsForFamily', () => {
  it('keeps the IPv4 addresses and CIDRs of every per-family flag for IPv4', () => {
    const v4 = planOptionsForFamily(BOTH, 'IPv4');
    assert.equal(v4.ipFamily, 'IPv4');
    assert.deepEqual(v4.nodeIPs, ['198.18.0.100']);
    assert.deepEqual(v4.clusterCIDRs, ['198.18.64.0/18']);
    assert.deepEqual(v4.nodePortAddresses, ['198.18.0.0/24']);
    assert.deepEqual(v4.localDetector, { mode: 'NodeCIDR', cidrs: ['198.18.64.0/24'] });
    assert.deepEqual(v4.ipvsTuning?.excludeCIDRs, ['198.18.250.0/24']);
    assert.equal(v4.ipvsTuning?.strictARP, true);
  });

  it('keeps the IPv6 ones for IPv6, and every flag that is not per family as it is', () => {
    const v6 = planOptionsForFamily(BOTH, 'IPv6');
    assert.equal(v6.ipFamily, 'IPv6');
    assert.deepEqual(v6.nodeIPs, ['2001:2::100']);
    assert.deepEqual(v6.clusterCIDRs, ['2001:2:0:40::/58']);
    assert.deepEqual(v6.nodePortAddresses, ['2001:2::/64']);
    assert.deepEqual(v6.localDetector, { mode: 'NodeCIDR', cidrs: ['2001:2:0:40::/64'] });
    assert.deepEqual(v6.ipvsTuning?.excludeCIDRs, ['2001:2:0:fa::/64']);
    assert.equal(v6.masqueradeAll, true);
    assert.equal(v6.masqueradeBit, BOTH.masqueradeBit);
    assert.equal(v6.nodeName, BOTH.nodeName);
  });

  it('--nodeport-addresses of the other family only means every address of this one (empty), as upstream', () => {
    const v6 = planOptionsForFamily(planOptions({ nodePortAddresses: ['198.18.0.0/24'] }), 'IPv6');
    assert.deepEqual(v6.nodePortAddresses, []);
  });

  it('leaves a family without cluster CIDRs with none (no local detection for it)', () => {
    const options = planOptions({
      clusterCIDRs: ['198.18.64.0/18'],
      localDetector: { mode: 'ClusterCIDR', cidrs: ['198.18.64.0/18'] },
    });
    const v6 = planOptionsForFamily(options, 'IPv6');
    assert.deepEqual(v6.clusterCIDRs, []);
    assert.deepEqual(v6.localDetector, { mode: 'ClusterCIDR', cidrs: [] });
  });

  it('keeps interface-based local detection and no ipvs tuning as they are', () => {
    const bridge = planOptions({ localDetector: { mode: 'BridgeInterface', name: 'cbr0' } });
    assert.deepEqual(planOptionsForFamily(bridge, 'IPv6').localDetector, {
      mode: 'BridgeInterface',
      name: 'cbr0',
    });
    assert.equal(planOptionsForFamily(planOptions(), 'IPv6').ipvsTuning, undefined);
    assert.equal(planOptionsForFamily(planOptions(), 'IPv6').localDetector, undefined);
  });

  it('returns options already of the family as they are, and narrows those of the other family again', () => {
    const v4 = planOptionsForFamily(BOTH, 'IPv4');
    assert.equal(planOptionsForFamily(v4, 'IPv4'), v4);
    // IPv4 options narrowed to IPv6 have no IPv6 address left: nothing leaks across.
    assert.deepEqual(planOptionsForFamily(v4, 'IPv6').nodeIPs, []);
  });

  it('keeps the same array when every entry is of the family (IPv4-only flags cost nothing)', () => {
    const v4only = planOptions({ nodeIPs: ['198.18.0.100'], clusterCIDRs: ['198.18.64.0/18'] });
    const v4 = planOptionsForFamily(v4only, 'IPv4');
    assert.equal(v4.nodeIPs, v4only.nodeIPs);
    assert.equal(v4.clusterCIDRs, v4only.clusterCIDRs);
  });
});
