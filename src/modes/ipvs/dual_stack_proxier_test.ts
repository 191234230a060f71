/**
 * The ipvs mode dual-stack, as the daemon runs it: one Proxier per family (modes/dual_stack.ts) on one
 * strict fake host. Each family programs its own virtual servers, kube-ipvs0 addresses, ipsets and
 * (ip6)tables rules, and never touches the other's, on partial and full syncs alike.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IptablesTable } from '../../kernel/iptables_restore.ts';
import type { FakeIptables } from '../../kernel/testing/iptables_fake.ts';
import { createFakeIpvsHost } from '../../kernel/testing/ipvs_fake_host.ts';
import { FakeClock } from '../../runner/clock.ts';
import { DualStackProxier } from '../dual_stack.ts';
import { createIpvsProxier } from './proxier.ts';
import {
  changeOf,
  dualStackFixture,
  endpoints,
  endpoints6,
  proxierDeps,
  service,
  stateOf,
} from './testing/fixtures.ts';

function rules(ipt: FakeIptables, table: IptablesTable, chain: string): string[] {
  return ipt.chain(table, chain)?.map((rule) => `-A ${chain} ${rule}`) ?? [];
}

function setup() {
  const host = createFakeIpvsHost();
  host.netlink.addInterface('eth0', ['198.18.0.100', '2001:2::100']);
  const { state, options } = dualStackFixture();
  const clock = new FakeClock(0);
  const proxier = new DualStackProxier(
    { createProxier: (deps) => createIpvsProxier(deps, { clock }) },
    proxierDeps(host.exec, options),
    ['IPv4', 'IPv6'],
  );
  const sync = (s: ReturnType<typeof stateOf>, full = false) => proxier.sync(s, changeOf(s), { full });
  const keys = (family: 'IPv4' | 'IPv6') =>
    host.ipvs
      .table()
      .filter((vs) => vs.address.includes(':') === (family === 'IPv6'))
      .map((vs) => `${vs.protocol}/${vs.address}:${vs.port}`)
      .sort();
  const bound = () => [...(host.netlink.links.get('kube-ipvs0')?.addresses ?? [])].sort();
  return { host, state, proxier, sync, keys, bound };
}

describe('ipvs dual-stack (one Proxier per family)', () => {
  it('programs each family: IPv6 virtual servers, addresses, KUBE-6- sets and ip6tables rules beside IPv4', async () => {
    const { host, state, sync, keys, bound } = setup();
    const report = await sync(state);
    assert.deepEqual([...report.families.keys()], ['IPv4', 'IPv6']);
    assert.deepEqual(keys('IPv6'), [
      'TCP/2001:2:0:f::10:80',
      'TCP/2001:2:0:f::11:80',
      'TCP/2001:2:0:f::12:80',
      'TCP/2001:2:0:f::13:80',
      'TCP/2001:2:0:f::14:443',
      'TCP/2001:2:0:f::200:443',
      'TCP/2001:2:0:f::201:443',
      'TCP/2001:2::100:30080',
      'TCP/2001:2::100:30443',
      'UDP/2001:2:0:f::53:53',
    ]);
    assert.ok(keys('IPv4').includes('TCP/198.18.0.20:80'), 'the IPv4-only Service');
    assert.ok(!keys('IPv6').some((k) => k.includes('::20:')), 'nothing IPv6 for the IPv4-only Service');
    const sticky = host.ipvs.table().find((vs) => vs.address === '2001:2:0:f::11');
    assert.equal(sticky?.persistentTimeout, 60, 'ClientIP affinity: persistent');
    assert.deepEqual(
      host.ipvs.table().find((vs) => vs.address === '2001:2:0:f::12')?.realServers,
      [],
      'no endpoints: a virtual server without real servers (IPVS answers ICMPv6 port unreachable)',
    );
    assert.ok(bound().includes('2001:2:0:f::10') && bound().includes('198.18.0.10'));
    assert.equal(host.ipset.has('KUBE-6-LOAD-BALANCER-SOURCE-CID'), true, 'a name ipset accepts');
    assert.deepEqual(host.ipset.entries('KUBE-6-NODE-PORT-TCP'), ['30080', '30443']);
    assert.ok(host.ipset.entries('KUBE-CLUSTER-IP')?.includes('198.18.0.20,tcp:80'));
    const v6 = rules(host.ip6tables, 'nat', 'KUBE-SERVICES');
    assert.equal(v6[0], '-A KUBE-SERVICES -s ::1/128 -j RETURN');
    assert.ok(v6.some((r) => r.includes('--match-set KUBE-6-CLUSTER-IP dst,dst ! -s 2001:2:0:1::/64')));
    assert.ok(!v6.some((r) => / KUBE-CLUSTER-IP /.test(r)), 'no IPv4 set in ip6tables');
    assert.ok(rules(host.ip6tables, 'filter', 'KUBE-IPVS-FILTER').some((r) => r.endsWith('-j REJECT')));
    assert.deepEqual(rules(host.ip6tables, 'nat', 'PREROUTING'), [
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ]);
    assert.ok(!rules(host.iptables, 'nat', 'KUBE-SERVICES').some((r) => r.includes('KUBE-6-')));
    assert.equal(host.netlink.sysctls.get('net.ipv4.ip_forward'), 1, 'set by the IPv4 Proxier');
  });

  it("leaves the other family's virtual servers, addresses and sets alone on full and partial syncs", async () => {
    const { host, state, sync, keys, bound } = setup();
    await sync(state);
    const before = { v4: keys('IPv4'), v6: keys('IPv6'), bound: bound(), sets: host.ipset.names() };
    await sync(state, true);
    assert.deepEqual(
      { v4: keys('IPv4'), v6: keys('IPv6'), bound: bound(), sets: host.ipset.names() },
      before,
    );

    // IPv6 goes away: the IPv6 Proxier removes its own, the IPv4 one's stay.
    const web = service('web', { clusterIPs: ['198.18.0.10'] });
    const v4only = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
    await sync(v4only);
    assert.deepEqual(keys('IPv6'), []);
    assert.deepEqual(keys('IPv4'), ['TCP/198.18.0.10:80']);
    assert.deepEqual(bound(), ['198.18.0.10']);
    assert.deepEqual(host.ipset.entries('KUBE-6-CLUSTER-IP'), [], 'served once: kept, emptied');
    assert.deepEqual(host.ipset.entries('KUBE-CLUSTER-IP'), ['198.18.0.10,tcp:80']);

    // And back: IPv4 is now unchanged (a partial sync of IPv4 writes nothing), IPv6 is programmed again.
    const dual = service('web', {
      clusterIPs: ['198.18.0.10', '2001:2:0:f::10'],
      ipFamilies: ['IPv4', 'IPv6'],
    });
    const both = stateOf([[dual, endpoints(dual, ['198.19.1.1']), endpoints6(dual, ['2001:2:0:1::1'])]]);
    const report = await sync(both);
    const v4 = report.families.get('IPv4');
    assert.ok(v4?.ok === true);
    assert.equal(v4.report.servicePortsWritten, 0);
    assert.deepEqual(keys('IPv6'), ['TCP/2001:2:0:f::10:80']);
    assert.deepEqual(bound(), ['198.18.0.10', '2001:2:0:f::10']);
  });

  it('rebinds both families when kube-ipvs0 was recreated, even the Proxier that did not recreate it', async () => {
    const { host, state, sync, bound } = setup();
    await sync(state);
    const all = bound();
    host.netlink.links.delete('kube-ipvs0');
    const report = await sync(state);
    assert.deepEqual(bound(), all);
    for (const family of ['IPv4', 'IPv6'] as const) {
      const r = report.families.get(family);
      assert.ok(r?.ok === true);
      assert.equal(r.report.kind, 'full', family);
    }
  });

  it('deletes stale UDP conntrack entries of each family in its own table (conntrack -f ipv6)', async () => {
    const { host, state, sync } = setup();
    await sync(state);
    const dns = service('dns', {
      clusterIPs: ['198.18.0.53', '2001:2:0:f::53'],
      ipFamilies: ['IPv4', 'IPv6'],
      ports: [{ name: 'p', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 0 }],
    });
    host.conntrackDeletions.length = 0;
    await sync(
      stateOf([
        [
          dns,
          endpoints(dns, ['198.19.1.6'], { port: 5353 }),
          endpoints6(dns, ['2001:2:0:1::6'], { port: 5353 }),
        ],
      ]),
    );
    assert.deepEqual(host.conntrackDeletions, [
      ['-D', '-p', 'udp', '--orig-dst', '198.18.0.53', '--dst-nat', '198.19.1.5', '@', 'ipv4'],
      ['-D', '-p', 'udp', '--orig-dst', '2001:2:0:f::53', '--dst-nat', '2001:2:0:1::5', '@', 'ipv6'],
    ]);
  });

  it('after a restart with no IPv6 Service left, empties the IPv6 sets and rules the earlier kproxy left', async () => {
    const first = setup();
    await first.sync(first.state);
    await first.proxier.stop();
    const { host } = first;
    // A new kproxy on the same host: its Proxiers know nothing of what was programmed.
    const { options } = dualStackFixture();
    const clock = new FakeClock(0);
    const restarted = new DualStackProxier(
      { createProxier: (deps) => createIpvsProxier(deps, { clock }) },
      proxierDeps(host.exec, options),
      ['IPv4', 'IPv6'],
    );
    const web = service('web', { clusterIPs: ['198.18.0.10'] });
    const v4only = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
    await restarted.sync(v4only, changeOf(v4only));
    assert.deepEqual(first.keys('IPv6'), []);
    assert.deepEqual(host.ipset.entries('KUBE-6-CLUSTER-IP'), []);
    assert.deepEqual(host.ipset.entries('KUBE-6-IPVS-IPS'), []);
    assert.deepEqual(rules(host.ip6tables, 'nat', 'KUBE-SERVICES'), [
      '-A KUBE-SERVICES -s ::1/128 -j RETURN',
      '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    ]);
    await restarted.stop();
  });

  it('an IPv6 Proxier without IPv6 Services reads no IPv4 set, and no IPVS table after its first sync', async () => {
    const { host, proxier } = setup();
    const web = service('web', { clusterIPs: ['198.18.0.10'] });
    const v4only = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
    await proxier.sync(v4only, changeOf(v4only));
    host.commands.length = 0;
    await proxier.sync(v4only, changeOf(v4only), { full: true });
    const listings = host.commands.filter((c) => / (-L|list|addr show)\b/.test(c));
    assert.deepEqual(listings, [
      // IPv4: the integrity check before a periodic resync (damage found there heals conntrack too)...
      'ipvsadm -L -n --exact -t 198.18.0.10:80',
      'ipset list -t',
      // ...then every set, the table, its addresses.
      'ipset list -o save',
      'ipvsadm -L -n --exact',
      'ip -j -4 addr show',
      // IPv6: no check (it serves nothing), only the names of the sets (it has none yet), its addresses.
      'ipset list -n',
      'ip -j -6 addr show',
    ]);
  });
});
