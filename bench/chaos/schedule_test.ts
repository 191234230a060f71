// The chaos command line, the fault catalogue and the schedule of a run: bounded phases, a quick smoke run
// of one mode, subsets of modes and faults, and which runs are skipped and why.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ChaosUsageError,
  estimateMs,
  FAULT_INFO,
  FAULTS,
  parseChaosArgs,
  phaseTimes,
  planRuns,
} from './schedule.ts';

describe('parseChaosArgs', () => {
  it('runs every fault in the modes that run here by default, with a 2 s sync period', () => {
    const o = parseChaosArgs([]);
    assert.deepEqual(o.modes, ['userspace', 'iptables', 'nftables']);
    assert.deepEqual(o.faults, [...FAULTS]);
    assert.equal(o.syncPeriodMs, 2000);
    assert.equal(o.outDir, 'docs');
    assert.equal(o.quick, false);
    assert.equal(o.merge, false);
    assert.equal(o.inGuest, false);
    assert.equal(o.renderOnly, false);
    assert.equal(o.attemptTimeoutMs, 1000);
  });

  it('takes a longer attempt timeout for a run of its own, never merged into the report', () => {
    assert.equal(parseChaosArgs(['--attempt-timeout', '3s', '--out', '/tmp/x']).attemptTimeoutMs, 3000);
    assert.equal(parseChaosArgs(['--attempt-timeout', '1000ms', '--merge']).attemptTimeoutMs, 1000);
    assert.throws(() => parseChaosArgs(['--attempt-timeout', '3s', '--merge']), /cannot be merged/);
    assert.throws(() => parseChaosArgs(['--attempt-timeout', '0s']), /Bad --attempt-timeout/);
  });

  it('--quick means one mode unless --modes says otherwise', () => {
    assert.deepEqual(parseChaosArgs(['--quick']).modes, ['iptables']);
    assert.deepEqual(parseChaosArgs(['--quick', '--modes', 'nftables,userspace']).modes, [
      'nftables',
      'userspace',
    ]);
  });

  it('takes subsets of faults, a sync period, an output directory and --merge', () => {
    const o = parseChaosArgs([
      '--faults',
      'kill9, wipe-table',
      '--sync-period',
      '500ms',
      '--out',
      '/tmp/x',
      '--merge',
    ]);
    assert.deepEqual(o.faults, ['kill9', 'wipe-table']);
    assert.equal(o.syncPeriodMs, 500);
    assert.equal(o.outDir, '/tmp/x');
    assert.equal(o.merge, true);
  });

  it('refuses unknown modes, faults, options and periods', () => {
    assert.throws(() => parseChaosArgs(['--modes', 'iptables,ebpf']), /Unknown mode: ebpf/);
    assert.throws(() => parseChaosArgs(['--faults', 'meteor']), /Unknown fault: meteor/);
    assert.throws(() => parseChaosArgs(['--faults', ',']), /No fault given/);
    assert.throws(() => parseChaosArgs(['--fast']), ChaosUsageError);
    assert.throws(() => parseChaosArgs(['--sync-period', '2m']), /Bad --sync-period/);
  });
});

describe('phaseTimes', () => {
  it('bounds every phase; --quick keeps each fault within 8 s', () => {
    for (const fault of FAULTS) {
      const full = phaseTimes(fault, false);
      const quick = phaseTimes(fault, true);
      assert.ok(full.warmupMs + full.faultMs + full.settleMs <= 80_000, fault);
      assert.ok(quick.faultMs <= 8000 && quick.warmupMs + quick.faultMs + quick.settleMs <= 15_000, fault);
    }
    assert.equal(phaseTimes('api-outage', false).faultMs, 30_000);
    assert.equal(phaseTimes('endpoint-churn', false).faultMs, 60_000);
  });

  it('lets tampered rules settle longer than a sync period', () => {
    assert.ok(phaseTimes('flush-rules', false).settleMs > 2 * 2000);
    assert.ok(phaseTimes('wipe-table', true).settleMs > 2000);
  });
});

describe('planRuns', () => {
  it('runs mode by mode and says why a run is skipped', () => {
    const runs = planRuns(
      { modes: ['nftables', 'ipvs'], faults: ['kill9', 'xtables-lock'] },
      { ipvs: 'needs the guest' },
    );
    assert.deepEqual(runs, [
      { mode: 'nftables', fault: 'kill9', skip: undefined },
      { mode: 'nftables', fault: 'xtables-lock', skip: FAULT_INFO['xtables-lock'].notApplicable.nftables },
      { mode: 'ipvs', fault: 'kill9', skip: 'needs the guest' },
      { mode: 'ipvs', fault: 'xtables-lock', skip: 'needs the guest' },
    ]);
  });

  it('estimates only the runs that run', () => {
    const runs = planRuns({ modes: ['iptables', 'ipvs'], faults: ['kill9'] }, { ipvs: 'x' });
    const t = phaseTimes('kill9', true);
    assert.equal(estimateMs(runs, true), 10_000 + t.warmupMs + t.faultMs + t.settleMs);
  });
});
