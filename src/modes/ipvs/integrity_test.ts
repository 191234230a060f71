/**
 * The ipvs Proxier's integrity check between syncs and its conntrack heal, against the strict fake host
 * (real wrappers, real command lines). Addresses: VIPs 198.18.0.x, pods 198.19.1.x, client 198.18.5.2.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConntrackEntry } from '../../kernel/conntrack_table.ts';
import { FakeConntrackTable } from '../../kernel/testing/conntrack_table_fake.ts';
import { createFakeIpvsHost } from '../../kernel/testing/ipvs_fake_host.ts';
import { FakeClock } from '../../runner/clock.ts';
import { integrityProbes } from './integrity.ts';
import { planIpvs } from './plan.ts';
import { createIpvsProxier } from './proxier.ts';
import { changeOf, endpoints, proxierDeps, service, stateOf } from './testing/fixtures.ts';

const web = service('web');
const CLIENT = '198.18.5.2';

/** `n` ClusterIP services on 198.18.x.y, one endpoint each. */
function manyServices(n: number) {
  return stateOf(
    Array.from({ length: n }, (_, i) => {
      const svc = service(`s${i}`, { clusterIPs: [`198.18.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`] });
      return [svc, endpoints(svc, [`198.19.1.${1 + (i % 250)}`])] as const;
    }),
  );
}

function setup(state = stateOf([[web, endpoints(web, ['198.19.1.1', '198.19.1.2'])]])) {
  const host = createFakeIpvsHost();
  host.netlink.addInterface('eth0', ['198.18.0.100']);
  const conntrackTable = new FakeConntrackTable();
  const proxier = createIpvsProxier(proxierDeps(host.exec), {
    clock: new FakeClock(0),
    gracefulCheckIntervalMs: 60_000,
    seams: { conntrackTable },
  });
  const sync = (options: { full?: boolean; repair?: string } = {}) =>
    proxier.sync(state, changeOf(state), { full: options.full ?? false, repair: options.repair });
  /** Runs a command on the fake host as someone else would, and checks that it worked. */
  const tamper = async (command: string, ...args: string[]) => {
    const r = await host.exec(command, args);
    assert.equal(r.code, 0, `${command} ${args.join(' ')}: ${r.stderr}`);
  };
  return { host, conntrackTable, proxier, sync, tamper, state };
}

/** A TCP entry from the client to `vip:80` whose reply comes from `replySrc:replyPort`. */
function entry(vip: string, clientPort: number, replySrc: string, replyPort: number): ConntrackEntry {
  return {
    protocol: 'tcp',
    original: { src: CLIENT, dst: vip, sport: clientPort, dport: 80 },
    reply: { src: replySrc, dst: CLIENT, sport: replyPort, dport: clientPort },
  };
}

describe('ipvs Proxier: integrity check', () => {
  it('says nothing before the first sync, and nothing on an intact kernel', async () => {
    const { proxier, sync } = setup();
    assert.equal(await proxier.checkIntact(), undefined);
    await sync();
    assert.equal(await proxier.checkIntact(), undefined);
  });

  // Each row: what someone does behind kproxy's back, and what the check must say.
  const damages: readonly { name: string; tamper: string[]; reason: RegExp }[] = [
    {
      name: 'ipvsadm --clear',
      tamper: ['ipvsadm', '-C'],
      reason: /virtual server TCP\/198\.18\.0\.10:80 is gone/,
    },
    {
      name: 'a real server deleted from the first virtual server',
      tamper: ['ipvsadm', '-d', '-t', '198.18.0.10:80', '-r', '198.19.1.2:8080'],
      reason: /lost 1 of its real servers/,
    },
    {
      name: 'a VIP unbound from kube-ipvs0',
      tamper: ['ip', 'addr', 'del', '198.18.0.10/32', 'dev', 'kube-ipvs0'],
      reason: /VIP 198\.18\.0\.10 is no longer a local address/,
    },
    {
      name: 'kube-ipvs0 deleted',
      tamper: ['ip', 'link', 'del', 'kube-ipvs0'],
      reason: /no longer a local address/,
    },
    {
      name: 'an ipset flushed',
      tamper: ['ipset', 'flush', 'KUBE-CLUSTER-IP'],
      reason: /ipset KUBE-CLUSTER-IP holds 0 of its 1 entries/,
    },
    {
      name: 'an ipset destroyed (an empty one: the others are in use by rules)',
      tamper: ['ipset', 'destroy', 'KUBE-LOOP-BACK'],
      reason: /ipset KUBE-LOOP-BACK is gone/,
    },
    {
      name: 'KUBE-SERVICES flushed',
      tamper: ['iptables-nft', '-w', '5', '-t', 'nat', '-F', 'KUBE-SERVICES'],
      reason: /nat KUBE-SERVICES holds fewer than its \d+ rules/,
    },
    {
      name: 'nat PREROUTING flushed',
      tamper: ['iptables-nft', '-w', '5', '-t', 'nat', '-F', 'PREROUTING'],
      reason: /nat PREROUTING no longer jumps to KUBE-SERVICES/,
    },
    {
      name: 'nat OUTPUT flushed',
      tamper: ['iptables-nft', '-w', '5', '-t', 'nat', '-F', 'OUTPUT'],
      reason: /nat OUTPUT no longer jumps to KUBE-SERVICES/,
    },
  ];
  for (const damage of damages) {
    it(`finds ${damage.name}, and a repair sync makes it intact again`, async () => {
      const { proxier, sync, tamper } = setup();
      await sync();
      const [command, ...args] = damage.tamper;
      await tamper(command!, ...args);
      assert.match((await proxier.checkIntact()) ?? 'intact', damage.reason);
      const report = await sync({ repair: 'test' });
      assert.equal(report.kind, 'full');
      assert.equal(await proxier.checkIntact(), undefined);
    });
  }

  it('looks at the last virtual server and VIP too, not only the first', async () => {
    const state = manyServices(3);
    const { proxier, sync, tamper } = setup(state);
    await sync();
    await tamper('ipvsadm', '-D', '-t', '198.18.1.3:80');
    assert.match((await proxier.checkIntact()) ?? '', /198\.18\.1\.3:80 is gone/);
    await sync({ repair: 'test' });
    await tamper('ip', 'addr', 'del', '198.18.1.3/32', 'dev', 'kube-ipvs0');
    assert.match((await proxier.checkIntact()) ?? '', /VIP 198\.18\.1\.3 is no longer/);
  });

  it('costs the same few commands with 2 services as with 1000, none of them a full listing', async () => {
    const perCheck: string[][] = [];
    for (const n of [2, 1000]) {
      const { host, proxier, sync } = setup(manyServices(n));
      await sync();
      host.commands.length = 0;
      assert.equal(await proxier.checkIntact(), undefined);
      perCheck.push([...host.commands]);
    }
    const [small, large] = perCheck;
    assert.equal(small!.length, 8, small!.join('\n'));
    assert.equal(large!.length, small!.length, large!.join('\n'));
    const fullListings = /^ipvsadm -L -n --exact$|^ipset list -o save|^ip -j .*addr show|save/;
    assert.deepEqual(
      large!.filter((c) => fullListings.test(c)),
      [],
    );
    assert.deepEqual(
      large!.map((c) => c.split(' ').slice(0, 2).join(' ')),
      [
        'ipvsadm -L',
        'ipvsadm -L',
        'ip -j',
        'ip -j',
        'ipset list',
        'iptables-nft -w',
        'iptables-nft -w',
        'iptables-nft -w',
      ],
    );
  });

  it('probes the ends of the plan, every planned set and the KUBE-SERVICES rule count', () => {
    const state = manyServices(3);
    const probes = integrityProbes(
      planIpvs(state, proxierDeps(async () => ({ code: 0, stdout: '', stderr: '' })).options),
    );
    assert.deepEqual(
      probes.virtualServers.map((vs) => vs.key),
      ['TCP/198.18.1.1:80', 'TCP/198.18.1.3:80'],
    );
    assert.deepEqual(probes.addresses, ['198.18.1.1', '198.18.1.3']);
    assert.equal(probes.sets.find((s) => s.name === 'KUBE-CLUSTER-IP')?.entries, 3);
    assert.equal(probes.iptables.length, 1);
    assert.ok(probes.iptables[0]!.kubeServicesRules > 0);
  });
});

describe('ipvs Proxier: conntrack heal', () => {
  it('heals after the first sync, then not after an ordinary sync', async () => {
    const { conntrackTable, sync } = setup();
    conntrackTable.add('IPv4', entry('198.18.0.10', 40_001, '198.18.0.10', 80));
    await sync();
    assert.deepEqual(conntrackTable.calls, ['list IPv4', 'delete IPv4 tcp 198.18.0.10:80']);
    conntrackTable.calls.length = 0;
    await sync();
    await sync({ full: true });
    assert.deepEqual(conntrackTable.calls, [], 'no damage, no heal: the table is not even listed');
  });

  it('after a repair sync, deletes the entries IPVS never handled and keeps those it NATed to a real server', async () => {
    const { conntrackTable, sync, tamper } = setup();
    await sync();
    await tamper('ipvsadm', '-C');
    // During the outage: the client's SYN reached the VIP itself (no virtual server): no NAT.
    const outage = entry('198.18.0.10', 40_002, '198.18.0.10', 80);
    // Before it: a connection IPVS handled (net.ipv4.vs.conntrack=1 rewrote the reply to the real server).
    const handled = entry('198.18.0.10', 40_003, '198.19.1.1', 8080);
    conntrackTable.add('IPv4', outage);
    conntrackTable.add('IPv4', handled);
    conntrackTable.calls.length = 0;
    await sync({ repair: 'the IPVS virtual server TCP/198.18.0.10:80 is gone' });
    assert.deepEqual(conntrackTable.calls, ['list IPv4', 'delete IPv4 tcp 198.18.0.10:80']);
    assert.deepEqual(conntrackTable.entries.get('IPv4'), [handled]);
  });

  it('heals after a periodic full sync that found the damage before the integrity check did', async () => {
    const { conntrackTable, proxier, sync, tamper } = setup();
    await sync();
    await tamper('iptables-nft', '-w', '5', '-t', 'nat', '-F', 'KUBE-SERVICES');
    conntrackTable.add('IPv4', entry('198.18.0.10', 40_004, '198.18.0.10', 80));
    conntrackTable.calls.length = 0;
    await sync({ full: true });
    assert.deepEqual(conntrackTable.calls, ['list IPv4', 'delete IPv4 tcp 198.18.0.10:80']);
    assert.equal(await proxier.checkIntact(), undefined);
  });

  it('heals after a sync that found kube-ipvs0 recreated (every VIP was gone)', async () => {
    const { conntrackTable, sync, tamper } = setup();
    await sync();
    await tamper('ip', 'link', 'del', 'kube-ipvs0');
    conntrackTable.calls.length = 0;
    await sync();
    assert.deepEqual(conntrackTable.calls, ['list IPv4']);
  });

  it('tries again after a repair sync that failed', async () => {
    const { host, conntrackTable, sync, tamper } = setup();
    await sync();
    await tamper('ipvsadm', '-C');
    host.failNext = 'ipvsadm -R';
    conntrackTable.calls.length = 0;
    await assert.rejects(sync({ repair: 'test' }));
    assert.deepEqual(conntrackTable.calls, []);
    await sync();
    assert.deepEqual(conntrackTable.calls, ['list IPv4']);
  });
});
