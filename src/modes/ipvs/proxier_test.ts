/**
 * The ipvs Proxier against a strict fake host (real wrappers, real command lines, in-memory kernel).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelError } from '../../kernel/exec.ts';
import type { IptablesTable } from '../../kernel/iptables_restore.ts';
import type { FakeIptables } from '../../kernel/testing/iptables_fake.ts';
import { createFakeIpvsHost } from '../../kernel/testing/ipvs_fake_host.ts';
import { FakeClock } from '../../runner/clock.ts';
import { createIpvsProxier } from './proxier.ts';
import { changeOf, endpoints, proxierDeps, service, stateOf } from './testing/fixtures.ts';

const web = service('web');
const dns = service('dns', {
  clusterIPs: ['198.18.0.53'],
  ports: [{ name: 'p', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 0 }],
});

/** A chain's rules as iptables-save prints them (`-A CHAIN ...`), or undefined when it does not exist. */
function rules(ipt: FakeIptables, table: IptablesTable, chain: string): string[] | undefined {
  return ipt.chain(table, chain)?.map((rule) => `-A ${chain} ${rule}`);
}

function setup() {
  const host = createFakeIpvsHost();
  host.netlink.addInterface('eth0', ['198.18.0.100']);
  const clock = new FakeClock(0);
  const proxier = createIpvsProxier(proxierDeps(host.exec), { clock, gracefulCheckIntervalMs: 60_000 });
  const sync = (state: ReturnType<typeof stateOf>, full = false) =>
    proxier.sync(state, changeOf(state), { full });
  const table = () =>
    host.ipvs
      .table()
      .map(
        (vs) =>
          `${vs.protocol}/${vs.address}:${vs.port} ${vs.scheduler} ${vs.realServers.map((r) => `${r.address}:${r.port}w${r.weight}`).join(',')}`,
      );
  return { host, clock, proxier, sync, table };
}

describe('ipvs Proxier', () => {
  it('programs virtual servers, VIPs on kube-ipvs0, ipsets, iptables chains and jumps, and the sysctls', async () => {
    const { host, sync, table } = setup();
    const report = await sync(stateOf([[web, endpoints(web, ['198.19.1.1', '198.19.1.2'])]]));

    assert.deepEqual(table(), ['TCP/198.18.0.10:80 rr 198.19.1.1:8080w1,198.19.1.2:8080w1']);
    assert.deepEqual([...(host.netlink.links.get('kube-ipvs0')?.addresses ?? [])], ['198.18.0.10']);
    assert.deepEqual(host.ipset.entries('KUBE-CLUSTER-IP'), ['198.18.0.10,tcp:80']);
    assert.deepEqual(host.ipset.entries('KUBE-IPVS-IPS'), ['198.18.0.10']);
    assert.deepEqual(rules(host.iptables, 'nat', 'PREROUTING'), [
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ]);
    assert.equal(rules(host.iptables, 'filter', 'INPUT')?.length, 3);
    assert.ok(rules(host.iptables, 'filter', 'KUBE-IPVS-FILTER')?.some((r) => r.endsWith('-j REJECT')));
    assert.equal(host.netlink.sysctls.get('net.ipv4.vs.expire_nodest_conn'), 1);
    assert.equal(host.netlink.sysctls.get('net.ipv4.vs.conntrack'), 1);
    assert.deepEqual(
      { kind: report.kind, servicePortsWritten: report.servicePortsWritten },
      { kind: 'full', servicePortsWritten: 1 },
    );
  });

  it('changes nothing when nothing changed; a partial sync trusts what it applied, a full sync re-lists the kernel', async () => {
    const { host, sync, table } = setup();
    const state = stateOf([[web, endpoints(web, ['198.19.1.1', '198.19.1.2'])]]);
    await sync(state);
    host.commands.length = 0;
    const again = await sync(state);
    assert.deepEqual(
      { kind: again.kind, written: again.servicePortsWritten, lines: again.restoreLines },
      { kind: 'partial', written: 0, lines: 0 },
    );
    // Nothing planned changed: no listing of the IPVS table, the sets or the VIPs.
    assert.deepEqual(
      host.commands.filter((c) => /^ipvsadm -L|^ipset list|^ip -j addr/.test(c)),
      [],
    );

    // Someone deletes the virtual server behind kproxy's back: partial syncs do not look (they assume
    // only kproxy changes what it applied), the next full sync (periodic, or after a failure) puts it back.
    host.ipvs.ipvsadm(['-D', '-t', '198.18.0.10:80']);
    assert.equal((await sync(state)).servicePortsWritten, 0);
    const repaired = await sync(state, true);
    assert.equal(repaired.servicePortsWritten, 1);
    assert.deepEqual(table(), ['TCP/198.18.0.10:80 rr 198.19.1.1:8080w1,198.19.1.2:8080w1']);
    // Jumps are inserted once, not on every sync.
    await sync(state, true);
    assert.equal(rules(host.iptables, 'nat', 'OUTPUT')?.length, 1);
  });

  it('lists only the changed virtual servers on a partial sync, and diffs them against the kernel', async () => {
    const { host, sync, table } = setup();
    const other = service('other', { clusterIPs: ['198.18.0.11'] });
    const before = stateOf([
      [web, endpoints(web, ['198.19.1.1', '198.19.1.2'])],
      [other, endpoints(other, ['198.19.1.3'])],
    ]);
    await sync(before);
    // A connection on the endpoint about to go: the listing must show it so that it drains.
    host.ipvs.setConnections('TCP/198.18.0.10:80', '198.19.1.2:8080', 1, 0);
    host.commands.length = 0;
    const after = stateOf([
      [web, endpoints(web, ['198.19.1.1'])],
      [other, endpoints(other, ['198.19.1.3'])],
    ]);
    const report = await sync(after);
    assert.equal(report.kind, 'partial');
    assert.deepEqual(
      host.commands.filter((c) => c.startsWith('ipvsadm -L')),
      ['ipvsadm -L -n --exact -t 198.18.0.10:80'],
    );
    assert.deepEqual(table(), [
      'TCP/198.18.0.10:80 rr 198.19.1.1:8080w1,198.19.1.2:8080w0',
      'TCP/198.18.0.11:80 rr 198.19.1.3:8080w1',
    ]);
  });

  it('goes full when kube-ipvs0 had to be created again (its VIPs are gone)', async () => {
    const { host, sync } = setup();
    const state = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
    await sync(state);
    await host.exec('ip', ['link', 'del', 'kube-ipvs0']);
    const report = await sync(state);
    assert.equal(report.kind, 'full');
    assert.deepEqual([...(host.netlink.links.get('kube-ipvs0')?.addresses ?? [])], ['198.18.0.10']);
  });

  it('puts its jumps first in the built-in chains in upstream order, and a full sync restores a deleted one', async () => {
    const { host, sync } = setup();
    const state = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
    await sync(state);
    const targets = (chain: string) =>
      (rules(host.iptables, 'filter', chain) ?? []).map((r) => r.split(' -j ')[1]);
    assert.deepEqual(targets('INPUT'), ['KUBE-IPVS-FILTER', 'KUBE-PROXY-FIREWALL', 'KUBE-NODE-PORT']);
    assert.deepEqual(targets('FORWARD'), ['KUBE-PROXY-FIREWALL', 'KUBE-FORWARD']);
    assert.deepEqual(targets('OUTPUT'), ['KUBE-IPVS-OUT-FILTER']);

    const removed = host.iptables.answer(
      'restore',
      ['--noflush'],
      '*filter\n-D INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER\nCOMMIT\n',
    );
    assert.equal(removed.code, 0);
    await sync(state);
    assert.deepEqual(
      targets('INPUT'),
      ['KUBE-PROXY-FIREWALL', 'KUBE-NODE-PORT'],
      'a partial sync leaves jumps alone',
    );
    await sync(state, true);
    assert.deepEqual(targets('INPUT'), ['KUBE-IPVS-FILTER', 'KUBE-PROXY-FIREWALL', 'KUBE-NODE-PORT']);
  });

  it('drains a removed TCP real server: weight 0 while it has connections, deleted once it has none', async () => {
    const { host, clock, proxier, sync, table } = setup();
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1', '198.19.1.2'])]]));
    host.ipvs.setConnections('TCP/198.18.0.10:80', '198.19.1.2:8080', 1, 2);

    await sync(stateOf([[web, endpoints(web, ['198.19.1.1'])]]));
    assert.deepEqual(table(), ['TCP/198.18.0.10:80 rr 198.19.1.1:8080w1,198.19.1.2:8080w0']);
    assert.deepEqual(proxier.draining, ['TCP/198.18.0.10:80/198.19.1.2:8080']);

    await clock.advance(60_000);
    assert.deepEqual(
      table(),
      ['TCP/198.18.0.10:80 rr 198.19.1.1:8080w1,198.19.1.2:8080w0'],
      'still has connections',
    );

    host.ipvs.setConnections('TCP/198.18.0.10:80', '198.19.1.2:8080', 0, 0);
    await clock.advance(59_999);
    assert.equal(
      table()[0],
      'TCP/198.18.0.10:80 rr 198.19.1.1:8080w1,198.19.1.2:8080w0',
      'not before the interval',
    );
    await clock.advance(1);
    assert.deepEqual(table(), ['TCP/198.18.0.10:80 rr 198.19.1.1:8080w1']);
    assert.deepEqual(proxier.draining, []);
    await proxier.stop();
    assert.equal(clock.pendingTimers, 0);
  });

  it('deletes an idle TCP real server and any UDP real server at once', async () => {
    const { host, sync, table } = setup();
    await sync(
      stateOf([
        [web, endpoints(web, ['198.19.1.1', '198.19.1.2'])],
        [dns, endpoints(dns, ['198.19.1.1', '198.19.1.2'], { port: 5353 })],
      ]),
    );
    host.ipvs.setConnections('UDP/198.18.0.53:53', '198.19.1.2:5353', 5, 5);
    await sync(
      stateOf([
        [web, endpoints(web, ['198.19.1.1'])],
        [dns, endpoints(dns, ['198.19.1.1'], { port: 5353 })],
      ]),
    );
    assert.deepEqual(table(), [
      'TCP/198.18.0.10:80 rr 198.19.1.1:8080w1',
      'UDP/198.18.0.53:53 rr 198.19.1.1:5353w1',
    ]);
  });

  it('gives a draining real server its weight back when its endpoint returns', async () => {
    const { host, proxier, sync, table } = setup();
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1', '198.19.1.2'])]]));
    host.ipvs.setConnections('TCP/198.18.0.10:80', '198.19.1.2:8080', 1);
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1'])]]));
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1', '198.19.1.2'])]]));
    assert.deepEqual(table(), ['TCP/198.18.0.10:80 rr 198.19.1.1:8080w1,198.19.1.2:8080w1']);
    assert.deepEqual(proxier.draining, []);
  });

  it("removes a deleted service's virtual server, VIP and set entries; edits a changed scheduler in place", async () => {
    const { host, sync, table } = setup();
    const other = service('other', { clusterIPs: ['198.18.0.20'] });
    await sync(stateOf([[web, endpoints(web, ['198.19.1.1'])], [other]]));
    await sync(
      stateOf([
        [
          service('web', { annotations: { 'kproxy.io/ipvs-scheduler': 'sh' } }),
          endpoints(web, ['198.19.1.1']),
        ],
      ]),
    );
    assert.deepEqual(table(), ['TCP/198.18.0.10:80 sh 198.19.1.1:8080w1']);
    assert.ok(host.commands.some((c) => c === 'ipvsadm -R'));
    assert.deepEqual([...(host.netlink.links.get('kube-ipvs0')?.addresses ?? [])], ['198.18.0.10']);
    assert.deepEqual(host.ipset.entries('KUBE-CLUSTER-IP'), ['198.18.0.10,tcp:80']);
  });

  it('fails a sync whose ipvsadm restore reports an error, and the next sync repairs the table', async () => {
    const { host, sync, table } = setup();
    const state = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
    host.failNext = 'ipvsadm -R';
    await assert.rejects(
      sync(state),
      (error: unknown) => error instanceof KernelError && error.code === 'KPROXY_KERNEL',
    );
    await sync(state);
    assert.deepEqual(table(), ['TCP/198.18.0.10:80 rr 198.19.1.1:8080w1']);
  });
});
