/**
 * The iptables mode serving both IP families on a real kernel, in a dual-stack lab (src/lab): the daemon's
 * DualStackProxier runs one IptablesProxier per family (iptables and ip6tables) in the node namespace, and
 * real connections from a client, from a pod and from the node itself go through the rules of their
 * family. Runs for the legacy and the nft backend, each ending with a cleanup of both families.
 *
 * Addresses: pods 198.18.101-103.2 and 2001:2:0:d0-d2::2 (cluster CIDRs 198.18.96.0/19 and
 * 2001:2:0:d0::/60), clients 2001:2:0:c0::2, the node 2001:2::1, IPv6 VIPs 2001:2:0:f::/64 (IPv4 VIPs
 * 198.19.0.0/16).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createExec, type Exec } from '../../kernel/exec.ts';
import { probeIpv6 } from '../../kernel/ip_family_support.ts';
import { iptablesFor, type ResolvedIptablesBackend } from '../../kernel/iptables.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';
import { createLab, LAB_VIP6_PREFIX, type Lab } from '../../lab/lab.ts';
import { countNames, runProbe } from '../../lab/run_probe.ts';
import type { IPFamily, ServicePortState } from '../../model/types.ts';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import { availableFamilies, DualStackProxier } from '../dual_stack.ts';
import type { ProxierDeps } from '../mode.ts';
import { iptablesMode } from './index.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'ip6tables', 'conntrack', 'curl'],
});

const CLUSTER_CIDRS = ['198.18.96.0/19', '2001:2:0:d0::/60'];
const VIP6 = (n: string) => `${LAB_VIP6_PREFIX}${n}`;

async function save(exec: Exec, backend: ResolvedIptablesBackend, family: IPFamily): Promise<string> {
  return iptablesFor(exec, backend, { family }).save(undefined);
}

for (const backend of ['legacy', 'nft'] as const) {
  describe(`iptables mode, both IP families, on a real kernel (${backend})`, { skip }, () => {
    let lab: Lab;
    let exec: Exec;
    let deps: ProxierDeps;
    let proxier: DualStackProxier;
    let ports: ServicePortState[];
    let version = 1;
    const sync = (list: readonly ServicePortState[], changed = list.map((p) => p.key)) =>
      proxier.sync(proxyState(list, version++), change(changed));

    before(async () => {
      lab = await createLab({ tag: backend === 'legacy' ? 'ip6l' : 'ip6n', clients: 1, pods: 3 });
      exec = createExec({ netns: lab.node.ns });
      // The node's own IPv4 packets to a VIP need a route before nat OUTPUT re-routes them.
      const routes = await exec('ip', ['route', 'show', '198.19.0.0/16']);
      if (routes.stdout.trim() === '') {
        const r = await exec('ip', ['route', 'add', '198.19.0.0/16', 'dev', 'kp0']);
        assert.equal(r.code, 0, r.stderr);
      }
      // The lab routes the IPv6 VIPs to lo, and the kernel turns an IPv6 route through lo into a reject
      // route: a forwarded packet that no DNAT claims gets ICMPv6 "no route" (ENETUNREACH) before the filter
      // table sees it, so the REJECT of a Service without endpoints could not be observed. Route them out a
      // link instead, as a real node's default route does.
      const r6 = await exec('ip', [
        '-6',
        'route',
        'replace',
        `${LAB_VIP6_PREFIX}/64`,
        'dev',
        'kp0',
        'src',
        lab.node.ip6,
      ]);
      assert.equal(r6.code, 0, r6.stderr);
      const banner = (p: (typeof lab.pods)[number]) => [`${p.ip}:9000`, `[${p.ip6}]:9000`];
      ports = [
        // Dual-stack, NodePort: both VIPs, both node addresses.
        servicePort({
          serviceName: 'web',
          portName: 'banner',
          type: 'NodePort',
          port: 80,
          nodePort: 30080,
          clusterIPs: ['198.19.0.10', VIP6('10')],
          ipFamilies: ['IPv4', 'IPv6'],
          endpoints: lab.pods.flatMap(banner),
        }),
        servicePort({
          serviceName: 'web',
          portName: 'http',
          port: 8080,
          clusterIPs: ['198.19.0.10', VIP6('10')],
          ipFamilies: ['IPv4', 'IPv6'],
          endpoints: lab.pods.flatMap((p) => [`${p.ip}:8080`, `[${p.ip6}]:8080`]),
        }),
        servicePort({
          serviceName: 'sticky6',
          portName: 'banner',
          port: 80,
          clusterIPs: [VIP6('11')],
          ipFamilies: ['IPv6'],
          sessionAffinity: { type: 'ClientIP', timeoutSeconds: 600 },
          endpoints: lab.pods.map((p) => `[${p.ip6}]:9000`),
        }),
        servicePort({
          serviceName: 'empty6',
          portName: 'banner',
          port: 80,
          clusterIPs: [VIP6('12')],
          ipFamilies: ['IPv6'],
        }),
        // Hairpin: pod0 reaching itself through its Service works only when masqueraded.
        servicePort({
          serviceName: 'hair6',
          portName: 'banner',
          port: 80,
          clusterIPs: [VIP6('13')],
          ipFamilies: ['IPv6'],
          endpoints: [`[${lab.pods[0]!.ip6}]:9000`],
        }),
        servicePort({
          serviceName: 'only4',
          portName: 'banner',
          port: 80,
          clusterIPs: ['198.19.0.14'],
          ipFamilies: ['IPv4'],
          endpoints: lab.pods.map((p) => `${p.ip}:9000`),
        }),
        servicePort({
          serviceName: 'dns6',
          portName: 'dns',
          protocol: 'UDP',
          port: 53,
          clusterIPs: [VIP6('53')],
          ipFamilies: ['IPv6'],
          endpoints: lab.pods.map((p) => `[${p.ip6}]:9000`),
        }),
      ];
      deps = {
        options: planOptions({
          nodeIPs: [...lab.node.addresses, ...lab.node.addresses6],
          clusterCIDRs: CLUSTER_CIDRS,
        }),
        exec,
        logger: pino({ level: 'silent' }),
        iptablesBackend: backend,
      };
    });

    after(async () => {
      await lab?.destroy();
    });

    it('finds that the host serves IPv6 too, and syncs both families fully', async () => {
      const { families, unavailable } = await availableFamilies(iptablesMode, deps, probeIpv6, deps.logger);
      assert.deepEqual(families, ['IPv4', 'IPv6'], JSON.stringify([...unavailable]));
      proxier = new DualStackProxier(iptablesMode, deps, families);
      const report = await sync(ports);
      assert.equal(report.kind, 'full');
      assert.deepEqual([...report.families.keys()], ['IPv4', 'IPv6']);
      assert.ok([...report.families.values()].every((f) => f.ok));
    });

    it('answers a dual-stack Service on both VIPs, from every backend', async () => {
      for (const vip of ['198.19.0.10', VIP6('10')]) {
        const r = await runProbe(lab, lab.clients[0]!.ns, ['banner', vip, '80', '--count', '45']);
        assert.deepEqual(r.failures, [], vip);
        assert.deepEqual(Object.keys(countNames(r.names)).sort(), ['pod0', 'pod1', 'pod2'], vip);
      }
      const curl = await lab.exec(lab.clients[0]!.ns, [
        'curl',
        '-g',
        '-s',
        '--max-time',
        '5',
        `http://[${VIP6('10')}]:8080/`,
      ]);
      assert.equal(curl.code, 0, curl.stderr);
      assert.match(curl.stdout, /^pod[012]\n$/);
    });

    it('answers the NodePort on the node IPv6 address', async () => {
      const r = await runProbe(lab, lab.clients[0]!.ns, ['banner', lab.node.ip6, '30080', '--count', '30']);
      assert.deepEqual(r.failures, []);
      assert.ok(Object.keys(countNames(r.names)).length >= 2, JSON.stringify(countNames(r.names)));
    });

    it('serves the node itself through the IPv6 VIP', async () => {
      const r = await runProbe(lab, lab.node.ns, ['banner', VIP6('10'), '80', '--count', '20']);
      assert.deepEqual(r.failures, []);
      assert.ok(Object.keys(countNames(r.names)).length >= 2, JSON.stringify(countNames(r.names)));
    });

    it('keeps an IPv6 client on one backend with ClientIP affinity', async () => {
      const r = await runProbe(lab, lab.clients[0]!.ns, ['banner', VIP6('11'), '80', '--count', '20']);
      assert.deepEqual(r.failures, []);
      assert.equal(new Set(r.names).size, 1, JSON.stringify(countNames(r.names)));
    });

    it('refuses at once an IPv6 Service without endpoints (ICMPv6 port unreachable)', async () => {
      const client = lab.clients[0]!.ns;
      const unreachables = async () => {
        const snmp6 = (await lab.exec(client, ['cat', '/proc/net/snmp6'])).stdout;
        return Number(/^Icmp6InDestUnreachs\s+(\d+)/m.exec(snmp6)?.[1] ?? Number.NaN);
      };
      const before = await unreachables();
      const r = await runProbe(lab, client, ['banner', VIP6('12'), '80', '--count', '3']);
      assert.equal(r.names.length, 0);
      assert.equal(r.failures.length, 3);
      for (const f of r.failures) assert.match(f, /ECONNREFUSED/);
      assert.ok((await unreachables()) - before >= 3, 'an ICMPv6 destination unreachable for each SYN');
      // The ICMPv6 error for the first SYN arrives while connect() still holds the socket (veth delivers
      // within the sending call), and Linux keeps it as a soft error (TcpExt LockDroppedIcmps); the one
      // for the SYN retransmitted 1 s later ends the connect. A DROP would time out instead.
      for (const ms of r.durationsMs) assert.ok(ms < 2000, `refused in ${JSON.stringify(r.durationsMs)} ms`);
    });

    it('masquerades IPv6 hairpin traffic: a pod reaches itself through its Service', async () => {
      const r = await runProbe(lab, lab.pods[0]!.ns, ['banner', VIP6('13'), '80', '--count', '3']);
      assert.deepEqual(r.failures, []);
      assert.deepEqual(r.names, ['pod0', 'pod0', 'pod0']);
    });

    it('programs nothing for a family a Service lacks', async () => {
      const v4 = await save(exec, backend, 'IPv4');
      const v6 = await save(exec, backend, 'IPv6');
      assert.match(v4, /ns1\/only4:banner/);
      assert.doesNotMatch(v6, /only4/);
      for (const name of ['sticky6', 'empty6', 'hair6', 'dns6']) {
        assert.match(v6, new RegExp(`ns1/${name}:`), name);
        assert.doesNotMatch(v4, new RegExp(name), name);
      }
      assert.doesNotMatch(v6, /198\.1[89]\./);
      assert.doesNotMatch(v4, /2001:2:/);
      const only4 = await runProbe(lab, lab.clients[0]!.ns, ['banner', '198.19.0.14', '80', '--count', '3']);
      assert.deepEqual(only4.failures, []);
    });

    it('deletes stale IPv6 UDP conntrack entries when an endpoint goes', async () => {
      const udp = await runProbe(lab, lab.clients[0]!.ns, [
        'udp',
        VIP6('53'),
        '53',
        '--count',
        '40',
        '--fresh',
      ]);
      assert.deepEqual(udp.failures, []);
      assert.ok(udp.names.includes('pod2'), JSON.stringify(countNames(udp.names)));
      const gone = lab.pods[2]!.ip6;
      const listed = () => exec('conntrack', ['-L', '-f', 'ipv6', '-p', 'udp', '--orig-dst', VIP6('53')]);
      assert.match((await listed()).stdout, new RegExp(`src=${gone} `));
      const dns6 = servicePort({
        serviceName: 'dns6',
        portName: 'dns',
        protocol: 'UDP',
        port: 53,
        clusterIPs: [VIP6('53')],
        ipFamilies: ['IPv6'],
        endpoints: lab.pods.slice(0, 2).map((p) => `[${p.ip6}]:9000`),
      });
      const next = ports.map((p) => (p.key === dns6.key ? dns6 : p));
      const report = await sync(next, [dns6.key]);
      assert.equal(report.kind, 'partial');
      const ct = await listed();
      assert.doesNotMatch(ct.stdout, new RegExp(`src=${gone} `), ct.stdout);
      const after = await runProbe(lab, lab.clients[0]!.ns, [
        'udp',
        VIP6('53'),
        '53',
        '--count',
        '8',
        '--fresh',
      ]);
      assert.deepEqual(after.failures, []);
      assert.ok(!after.names.includes('pod2'), JSON.stringify(countNames(after.names)));
    });

    it('cleans up both families, and a second cleanup finds nothing', async () => {
      await iptablesMode.cleanup(deps);
      for (const family of ['IPv4', 'IPv6'] as const) {
        assert.doesNotMatch(await save(exec, backend, family), /KUBE-/, family);
      }
      await iptablesMode.cleanup(deps);
    });
  });
}
