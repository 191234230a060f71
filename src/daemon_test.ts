import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SyncOptions, SyncReport } from './contracts/sync.ts';
import { Daemon } from './daemon.ts';
import type { Exec } from './kernel/exec.ts';
import { createLogger } from './log.ts';
import { planOptions, servicePortSpec, serviceSpec } from './model/testing/fixtures.ts';
import type { ServiceSpec, StateChange } from './model/types.ts';
import type { ModeDefinition, Proxier } from './modes/mode.ts';
import { FakeClock } from './runner/clock.ts';
import type { ProxySource, SourceSink } from './sources/source.ts';

const plan = planOptions({ nodeIPs: ['198.18.0.1'] });

function svc(name: string, ip: string): ServiceSpec {
  return serviceSpec({ name, clusterIPs: [ip], ports: [servicePortSpec({ name: '', targetPort: 80 })] });
}

function setup() {
  const clock = new FakeClock(1_000_000);
  const syncs: { keys: string[]; changed: string[]; full: boolean }[] = [];
  let failNext = 0;
  let sink: SourceSink = () => {};
  const source: ProxySource = {
    start: async (s) => {
      sink = s;
    },
    stop: async () => {},
  };
  const proxier: Proxier = {
    async sync(state, change: StateChange, options?: SyncOptions): Promise<SyncReport> {
      if (failNext > 0) {
        failNext--;
        throw new Error('Restore failed: injected');
      }
      syncs.push({
        keys: [...state.servicePorts.keys()],
        changed: [...change.changed].sort(),
        full: options?.full ?? false,
      });
      return {
        kind: options?.full ? 'full' : 'partial',
        servicePortsWritten: change.changed.size,
        restoreBytes: 0,
        restoreLines: 0,
      };
    },
    stop: async () => {},
  };
  const mode: ModeDefinition = {
    name: 'iptables',
    renderRules: () => '',
    trace: () => ({ verdict: 'NONE', masquerade: false, backends: [], path: [] }),
    checkHost: async () => {},
    createProxier: () => proxier,
    cleanup: async () => {},
  };
  const exec: Exec = async () => ({ code: 0, stdout: '', stderr: '' });
  const succeeded: number[] = [];
  const failed: number[] = [];
  const daemon = new Daemon({
    mode,
    source,
    plan,
    exec,
    logger: createLogger({ format: 'json', level: 'silent' }),
    iptablesBackend: 'legacy',
    minSyncPeriodMs: 1000,
    syncPeriodMs: 30_000,
    clock,
    observers: [{ syncSucceeded: (i) => succeeded.push(i.at), syncFailed: (i) => failed.push(i.at) }],
  });
  const add = (s: ServiceSpec) =>
    sink({ type: 'add', object: { kind: 'Service', spec: s }, at: clock.now() });
  return {
    clock,
    daemon,
    syncs,
    add,
    synced: () => sink({ type: 'synced' }),
    fail: (n: number) => (failNext = n),
    succeeded,
    failed,
  };
}

describe('Daemon', () => {
  it('does not sync before the source is synced, then syncs fully once', async () => {
    const { clock, daemon, syncs, add, synced } = setup();
    await daemon.start();
    add(svc('a', '198.18.100.1'));
    await clock.advance(5000);
    assert.deepEqual(syncs, []);
    synced();
    await clock.advance(0);
    assert.deepEqual(syncs, [{ keys: ['default/a:/TCP'], changed: ['default/a:/TCP'], full: true }]);
  });

  it('syncs changes partially, bounded by the min sync period, and fully every sync period', async () => {
    const { clock, daemon, syncs, add, synced } = setup();
    await daemon.start();
    synced();
    await clock.advance(0);
    add(svc('b', '198.18.100.2'));
    await clock.advance(0);
    assert.equal(syncs.length, 1, 'the second change waits for the min sync period');
    await clock.advance(1000);
    assert.deepEqual(syncs[1], { keys: ['default/b:/TCP'], changed: ['default/b:/TCP'], full: false });
    await clock.advance(30_000);
    assert.equal(syncs.length, 3);
    assert.equal(syncs[2]?.full, true, 'the periodic resync is full');
    await daemon.stop();
  });

  it('carries the change of a failed sync into the retry, which is full', async () => {
    const { clock, daemon, syncs, add, synced, fail, failed, succeeded } = setup();
    await daemon.start();
    synced();
    await clock.advance(0);
    fail(1);
    add(svc('c', '198.18.100.3'));
    await clock.advance(1000);
    assert.equal(failed.length, 1);
    assert.equal(syncs.length, 1);
    await clock.advance(1000);
    assert.deepEqual(syncs[1], { keys: ['default/c:/TCP'], changed: ['default/c:/TCP'], full: true });
    assert.equal(succeeded.length, 2);
  });
});
