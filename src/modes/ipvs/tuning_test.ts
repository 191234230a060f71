/**
 * The ipvs node settings (strict ARP, IPVS timeouts, excluded CIDRs) through the Proxier, against the
 * strict fake host (real wrappers and command lines).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeIpvsHost } from '../../kernel/testing/ipvs_fake_host.ts';
import { FakeClock } from '../../runner/clock.ts';
import { createIpvsProxier } from './proxier.ts';
import { changeOf, endpoints, proxierDeps, service, stateOf } from './testing/fixtures.ts';
import { type IpvsTuning, ipvsTimeouts, NO_IPVS_TUNING, withoutExcluded } from './tuning.ts';

const web = service('web');

function setup(tuning: Partial<IpvsTuning>) {
  const host = createFakeIpvsHost();
  host.netlink.addInterface('eth0', ['198.18.0.100']);
  const proxier = createIpvsProxier(proxierDeps(host.exec), {
    clock: new FakeClock(0),
    tuning: { ...NO_IPVS_TUNING, ...tuning },
  });
  const sync = (state: ReturnType<typeof stateOf>, full = false) =>
    proxier.sync(state, changeOf(state), { full });
  const keys = () => host.ipvs.table().map((vs) => `${vs.protocol}/${vs.address}:${vs.port}`);
  return { host, sync, keys };
}

describe('ipvs node settings', () => {
  it('changes no sysctl and no timeout by default', async () => {
    const { host, sync } = setup({});
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1'])]]));
    assert.equal(host.netlink.sysctls.has('net.ipv4.conf.all.arp_ignore'), false);
    assert.equal(host.netlink.sysctls.has('net.ipv4.conf.all.arp_announce'), false);
    assert.deepEqual(host.ipvs.timeouts, { tcp: 900, tcpFin: 120, udp: 300 });
    assert.equal(
      host.commands.some((c) => c.startsWith('ipvsadm --set') || c.startsWith('sysctl -n')),
      false,
    );
  });

  it('--ipvs-strict-arp sets arp_ignore=1 and arp_announce=2, writing only what differs, once', async () => {
    const { host, sync } = setup({ strictARP: true });
    host.netlink.sysctls.set('net.ipv4.conf.all.arp_ignore', 1);
    const state = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
    await sync(state);
    assert.equal(host.netlink.sysctls.get('net.ipv4.conf.all.arp_ignore'), 1);
    assert.equal(host.netlink.sysctls.get('net.ipv4.conf.all.arp_announce'), 2);
    assert.deepEqual(
      host.commands.filter((c) => c.includes('arp_')),
      [
        'sysctl -n net.ipv4.conf.all.arp_ignore',
        'sysctl -n net.ipv4.conf.all.arp_announce',
        'sysctl -w net.ipv4.conf.all.arp_announce=2',
      ],
    );
    host.commands.length = 0;
    await sync(state, true);
    assert.deepEqual(
      host.commands.filter((c) => c.includes('arp_')),
      [],
    );
  });

  it('fails the sync when strict ARP cannot be set, and the next sync tries again', async () => {
    const { host, sync } = setup({ strictARP: true });
    const state = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
    host.failNext = 'sysctl -w net.ipv4.conf.all.arp_ignore';
    await assert.rejects(sync(state), /arp_ignore/);
    await sync(state);
    assert.equal(host.netlink.sysctls.get('net.ipv4.conf.all.arp_ignore'), 1);
    assert.equal(host.netlink.sysctls.get('net.ipv4.conf.all.arp_announce'), 2);
  });

  it('sets the IPVS timeouts in whole seconds, 0 keeping the kernel value', async () => {
    const { host, sync } = setup({ tcpTimeoutMs: 3_600_000, tcpFinTimeoutMs: 0, udpTimeoutMs: 10_500 });
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1'])]]));
    assert.ok(host.commands.includes('ipvsadm --set 3600 0 10'));
    assert.deepEqual(host.ipvs.timeouts, { tcp: 3600, tcpFin: 120, udp: 10 });
  });

  it('logs a failed timeout change and goes on (as upstream)', async () => {
    const { host, sync, keys } = setup({ udpTimeoutMs: 5_000 });
    host.failNext = 'ipvsadm --set';
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1'])]]));
    assert.deepEqual(host.ipvs.timeouts, { tcp: 900, tcpFin: 120, udp: 300 });
    assert.deepEqual(keys(), ['TCP/198.18.0.10:80']);
  });

  it('truncates sub-second timeouts as Go does (0.9s: unchanged)', () => {
    assert.deepEqual(ipvsTimeouts({ ...NO_IPVS_TUNING, tcpTimeoutMs: 900, udpTimeoutMs: 1_999 }), {
      tcp: 0,
      tcpFin: 0,
      udp: 1,
    });
  });

  it('--ipvs-exclude-cidrs: a full sync leaves foreign virtual servers there alone, deletes the others', async () => {
    const { host, sync, keys } = setup({ excludeCIDRs: ['198.18.200.0/24', '2001:2::/64'] });
    for (const vip of ['198.18.200.7:443', '198.18.201.7:443', '[2001:2::7]:443']) {
      assert.equal(host.ipvs.ipvsadm(['-A', '-t', vip, '-s', 'rr']).code, 0);
    }
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1'])]]), true);
    assert.deepEqual(keys().sort(), ['TCP/198.18.0.10:80', 'TCP/198.18.200.7:443', 'TCP/2001:2::7:443']);
  });

  it('--ipvs-exclude-cidrs: a planned virtual server in an excluded CIDR is still programmed, and kept once unplanned (as upstream)', async () => {
    const { sync, keys } = setup({ excludeCIDRs: ['198.18.0.0/24'] });
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1'])]]));
    assert.deepEqual(keys(), ['TCP/198.18.0.10:80']);
    // Upstream skips excluded addresses in its cleanup even when kube-proxy made them: so does kproxy.
    await sync(stateOf([]));
    assert.deepEqual(keys(), ['TCP/198.18.0.10:80']);
  });

  it('withoutExcluded keeps every listed virtual server without CIDRs', () => {
    const listed = [
      {
        protocol: 'TCP',
        address: '198.18.0.1',
        port: 80,
        scheduler: 'rr',
        flags: [],
        persistentTimeout: undefined,
        realServers: [],
      },
    ] as const;
    assert.equal(
      withoutExcluded(listed, [], () => false),
      listed,
    );
    assert.deepEqual(
      withoutExcluded(listed, ['198.18.0.0/24'], () => false),
      [],
    );
    assert.deepEqual(
      withoutExcluded(listed, ['198.18.0.0/24'], () => true),
      listed,
    );
  });
});
