import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConntrackEntry } from '../../kernel/conntrack_table.ts';
import { FakeConntrackTable } from '../../kernel/testing/conntrack_table_fake.ts';
import { proxyState, servicePortState } from '../../model/testing/fixtures.ts';
import { HealSchedule, healUnnatedConntrack, unnatedServiceTargets } from './heal_conntrack.ts';

/** An entry from 198.18.1.2:sport to dst:dport; replied by `replySrc:replySport` (default: un-NATed). */
function entry(
  protocol: string,
  dst: string,
  dport: number,
  sport: number,
  reply?: { src: string; sport: number },
): ConntrackEntry {
  const r = reply ?? { src: dst, sport: dport };
  return {
    protocol,
    original: { src: '198.18.1.2', dst, sport, dport },
    reply: { src: r.src, dst: '198.18.1.2', sport: r.sport, dport: sport },
  };
}

const state = proxyState([
  servicePortState({
    clusterIPs: ['198.19.0.5'],
    externalIPs: ['198.18.50.1'],
    loadBalancerIPs: ['198.18.60.1'],
    port: 80,
    type: 'LoadBalancer',
    nodePort: 30080,
  }),
  servicePortState({
    key: 'default/dns:/UDP',
    serviceName: 'dns',
    protocol: 'UDP',
    clusterIPs: ['198.19.0.6'],
    port: 53,
  }),
]);

describe('unnatedServiceTargets', () => {
  it('selects un-NATed entries to every service address and node port, one deletion per address and port', () => {
    const entries = [
      entry('tcp', '198.19.0.5', 80, 40001),
      entry('tcp', '198.19.0.5', 80, 40002), // same target: one deletion
      entry('tcp', '198.18.50.1', 80, 40003),
      entry('tcp', '198.18.60.1', 80, 40004),
      entry('tcp', '198.18.0.1', 30080, 40005), // a node port on a node address
      entry('udp', '198.19.0.6', 53, 40006),
    ];
    assert.deepEqual(
      unnatedServiceTargets(entries, state, 'IPv4').map((t) => `${t.protocol} ${t.ip}:${t.port}`),
      [
        'tcp 198.18.0.1:30080',
        'tcp 198.18.50.1:80',
        'tcp 198.18.60.1:80',
        'tcp 198.19.0.5:80',
        'udp 198.19.0.6:53',
      ],
    );
  });

  it('never selects an entry the rules DNATed, nor one to another port, protocol or address', () => {
    const entries = [
      entry('tcp', '198.19.0.5', 80, 40001, { src: '198.18.101.2', sport: 8080 }), // DNATed: a live connection
      entry('tcp', '198.19.0.5', 81, 40002),
      entry('udp', '198.19.0.5', 80, 40003),
      entry('tcp', '198.19.0.99', 80, 40004),
      entry('tcp', '198.18.0.1', 22, 40005),
      entry('udp', '198.18.0.1', 30080, 40006), // the node port is TCP
    ];
    assert.deepEqual(unnatedServiceTargets(entries, state, 'IPv4'), []);
  });
});

describe('healUnnatedConntrack', () => {
  it('deletes the stale entries and leaves the DNATed ones, through the seam', async () => {
    const table = new FakeConntrackTable();
    const live = entry('tcp', '198.19.0.5', 80, 40001, { src: '198.18.101.2', sport: 8080 });
    table.add('IPv4', live);
    table.add('IPv4', entry('tcp', '198.19.0.5', 80, 40002));
    const { deleted, error } = await healUnnatedConntrack(table, state, 'IPv4');
    assert.equal(error, undefined);
    assert.equal(deleted.length, 1);
    assert.deepEqual(table.entries.get('IPv4'), [live]);
    assert.deepEqual(table.calls, ['list IPv4', 'delete IPv4 tcp 198.19.0.5:80']);
  });

  it('returns a listing failure instead of throwing', async () => {
    const table = new FakeConntrackTable();
    table.list = async () => {
      throw new Error('conntrack: not found');
    };
    const { deleted, error } = await healUnnatedConntrack(table, state, 'IPv4');
    assert.deepEqual(deleted, []);
    assert.match(String(error), /not found/);
  });
});

describe('HealSchedule', () => {
  it('heals after the first sync, then only after an outage, once each', async () => {
    const schedule = new HealSchedule();
    let heals = 0;
    const heal = async (): Promise<void> => {
      heals++;
    };
    await schedule.afterSync(heal);
    await schedule.afterSync(heal);
    assert.equal(heals, 1, 'the first sync heals, the next does not');
    schedule.outage();
    await schedule.afterSync(heal);
    await schedule.afterSync(heal);
    assert.equal(heals, 2);
  });

  it('checks before a periodic resync only when no heal is due, and records the damage it finds', async () => {
    const schedule = new HealSchedule();
    let checks = 0;
    const damaged = async (): Promise<string | undefined> => {
      checks++;
      return 'KUBE-SERVICES flushed';
    };
    assert.equal(await schedule.checkBeforeResync(damaged), undefined, 'first sync: a heal is due anyway');
    assert.equal(checks, 0);
    await schedule.afterSync(async () => {});
    assert.equal(await schedule.checkBeforeResync(damaged), 'KUBE-SERVICES flushed');
    let healed = false;
    await schedule.afterSync(async () => {
      healed = true;
    });
    assert.ok(healed, 'the resync that found damage heals');
    const failing = async (): Promise<string | undefined> => {
      throw new Error('iptables: lock held');
    };
    assert.equal(await schedule.checkBeforeResync(failing), undefined, 'a failed check is no damage');
    healed = false;
    await schedule.afterSync(async () => {
      healed = true;
    });
    assert.equal(healed, false);
  });
});
