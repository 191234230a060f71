import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';
import { createLab, LAB_VIP6_PREFIX, type Lab } from '../../lab/lab.ts';
import type { ProbeResult } from '../../lab/probe.ts';
import { runProbe } from '../../lab/run_probe.ts';
import type { ServicePortState } from '../../model/types.ts';
import { planOptions, servicePort } from './testing/fixtures.ts';
import { type LabProxier, startLabProxier } from './testing/lab_proxier.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [
    ...LAB_TOOLS,
    ...IPTABLES_TOOLS,
    'iptables-save',
    'ip6tables-save',
    'ip6tables-nft-restore',
    'conntrack',
  ],
});

// Lab addresses: node 198.18.0.1 and 2001:2::1 (on its lo), client 198.18.1.2 / 2001:2:0:c0::2, pods
// 198.18.101.2+ / 2001:2:0:d0::2+ (banner and UDP echo on 9000, on both families), VIPs 198.19.0.0/16 and
// 2001:2:0:f::/64 (routed to the node, assigned nowhere). Both families' Proxiers run side by side in one
// process in the node namespace, as the daemon runs them, each with its family's view of the state: portal
// rules in iptables for IPv4 and in ip6tables for IPv6.
const VIP6 = (last: string): string => `${LAB_VIP6_PREFIX}${last}`;

describe('userspace mode in a dual-stack lab (ip6tables portals, real IPv6 traffic)', { skip }, () => {
  let lab: Lab;
  let proxier: LabProxier;
  let pods4: string[];
  let pods6: string[];
  const dual = (): ServicePortState =>
    servicePort({
      serviceName: 'dual',
      type: 'NodePort',
      clusterIPs: ['198.19.0.20', VIP6('20')],
      ipFamilies: ['IPv4', 'IPv6'],
      port: 80,
      nodePort: 30090,
      endpoints: [...pods4, ...pods6],
    });
  const sticky6 = (): ServicePortState =>
    servicePort({
      serviceName: 'sticky6',
      clusterIPs: [VIP6('21')],
      ipFamilies: ['IPv6'],
      port: 80,
      sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
      endpoints: pods6,
    });
  const empty6 = (): ServicePortState =>
    servicePort({ serviceName: 'empty6', clusterIPs: [VIP6('22')], ipFamilies: ['IPv6'], port: 80 });
  const dns6 = (): ServicePortState =>
    servicePort({
      serviceName: 'dns6',
      portName: 'dns',
      protocol: 'UDP',
      clusterIPs: [VIP6('53')],
      ipFamilies: ['IPv6'],
      port: 53,
      endpoints: pods6,
    });
  const all = (): ServicePortState[] => [dual(), sticky6(), empty6(), dns6()];

  const probe = (ns: string, args: readonly string[]): Promise<ProbeResult> => runProbe(lab, ns, args);
  const client = (): string => lab.clients[0]!.ns;
  const save = async (tool: 'iptables-save' | 'ip6tables-save'): Promise<string> =>
    (await lab.exec(lab.node.ns, [tool, '-t', 'nat'])).stdout;

  before(async () => {
    lab = await createLab({ tag: 'us6', clients: 1, pods: 3 });
    pods4 = lab.pods.map((p) => `${p.ip}:9000`);
    pods6 = lab.pods.map((p) => `[${p.ip6}]:9000`);
    proxier = startLabProxier(
      lab,
      planOptions({ nodeIPs: [lab.node.ip, lab.node.ip6], udpIdleTimeoutMs: 250 }),
      ['IPv4', 'IPv6'],
    );
    await proxier.sync(all());
  });
  after(async () => {
    await proxier?.stop();
    await lab?.destroy();
  });

  it('runs both Proxiers with portal rules, the IPv6 one on [::] proxy ports of its own', async () => {
    const v4 = await proxier.stats('IPv4');
    const v6 = await proxier.stats('IPv6');
    assert.equal(v4.portals, true);
    assert.equal(v6.portals, true);
    assert.deepEqual(
      v4.listeners.map((l) => [l.id, l.host]),
      [
        ['proxy|default/dual:http/TCP|internal', '0.0.0.0'],
        ['proxy|default/dual:http/TCP|external', '0.0.0.0'],
      ],
    );
    assert.deepEqual(
      v6.listeners.map((l) => [l.id, l.host]),
      [
        ['proxy|default/dns6:dns/UDP|internal', '::'],
        ['proxy|default/dual:http/TCP|internal', '::'],
        ['proxy|default/dual:http/TCP|external', '::'],
        ['proxy|default/empty6:http/TCP|internal', '::'],
        ['proxy|default/sticky6:http/TCP|internal', '::'],
      ],
    );
  });

  it('answers a dual-stack Service on both VIPs through the relay, round-robin on each family', async () => {
    const before6 = (await proxier.stats('IPv6')).tcp.relayed;
    const before4 = (await proxier.stats('IPv4')).tcp.relayed;
    for (const vip of ['198.19.0.20', VIP6('20')]) {
      const { names, failures } = await probe(client(), ['banner', vip, '80', '--count', '6']);
      assert.deepEqual(failures, [], vip);
      assert.equal(new Set(names).size, 3, `${vip}: ${names}`);
    }
    assert.equal((await proxier.stats('IPv4')).tcp.relayed - before4, 6);
    assert.equal((await proxier.stats('IPv6')).tcp.relayed - before6, 6);
  });

  it('programs each family only in its own table, and nothing for a family a Service does not have', async () => {
    const v4 = await save('iptables-save');
    const v6 = await save('ip6tables-save');
    assert.match(v6, new RegExp(`-d ${VIP6('20')}/128 .*-j REDIRECT`));
    assert.match(
      v6,
      new RegExp(`-d ${VIP6('21')}/128 .*-j DNAT --to-destination \\[${lab.node.ip6}\\]:\\d+`),
    );
    assert.match(v6, /--dport 30090 -j REDIRECT/);
    assert.doesNotMatch(v6, /198\.19\./);
    assert.match(v4, /-d 198\.19\.0\.20\/32 /);
    assert.doesNotMatch(v4, /2001:2/);
  });

  it('keeps an IPv6 client on one backend with ClientIP affinity', async () => {
    const { names, failures } = await probe(client(), ['banner', VIP6('21'), '80', '--count', '6']);
    assert.deepEqual(failures, []);
    assert.equal(names.length, 6);
    assert.equal(new Set(names).size, 1, `affinity broken: ${names}`);
  });

  it('refuses an IPv6 Service without endpoints at once (closed, not left to time out)', async () => {
    const { names, failures } = await probe(client(), [
      'banner',
      VIP6('22'),
      '80',
      '--count',
      '2',
      '--timeout-ms',
      '10000',
    ]);
    assert.deepEqual(names, []);
    assert.equal(failures.length, 2);
    for (const f of failures) assert.doesNotMatch(f, /Timed out/, f);
  });

  it('answers the node port on the node\u2019s IPv6 address, and the IPv6 VIP from the node itself', async () => {
    const nodePort = await probe(client(), ['banner', lab.node.ip6, '30090', '--count', '3']);
    assert.deepEqual(nodePort.failures, []);
    assert.equal(new Set(nodePort.names).size, 3);
    const fromNode = await probe(lab.node.ns, ['banner', VIP6('20'), '80', '--count', '3']);
    assert.deepEqual(fromNode.failures, []);
    assert.equal(fromNode.names.length, 3);
  });

  it('retries a connection whose IPv6 backend is gone on another IPv6 backend: no client sees it', async () => {
    const failedBefore = (await proxier.stats('IPv6')).tcp.failedAttempts;
    await lab.stopServer(lab.pods[1]!);
    try {
      const { names, failures } = await probe(client(), ['banner', VIP6('20'), '80', '--count', '9']);
      assert.deepEqual(failures, []);
      assert.equal(names.length, 9);
      assert.ok(!names.includes(lab.pods[1]!.name), `${names}`);
      assert.ok((await proxier.stats('IPv6')).tcp.failedAttempts > failedBefore, 'no attempt was retried');
    } finally {
      await lab.startServer(lab.pods[1]!);
    }
  });

  it('relays IPv6 UDP, and deletes the IPv6 conntrack entries of a removed UDP Service', async () => {
    const flows = async (): Promise<number> => {
      const r = await lab.exec(lab.node.ns, [
        'conntrack',
        '-L',
        '-f',
        'ipv6',
        '-p',
        'udp',
        '--orig-dst',
        VIP6('53'),
      ]);
      return r.stdout.split('\n').filter((l) => l.includes(VIP6('53'))).length;
    };
    const answered = await probe(client(), ['udp', VIP6('53'), '53', '--count', '2']);
    assert.deepEqual(answered.failures, []);
    assert.equal(answered.names.length, 2);
    assert.ok((await flows()) >= 1, 'the REDIRECTed UDP flow has an IPv6 conntrack entry');
    await proxier.sync([dual(), sticky6(), empty6()]);
    assert.equal(await flows(), 0, 'the IPv6 UDP conntrack entries to the removed VIP are gone');
    assert.doesNotMatch(await save('ip6tables-save'), new RegExp(VIP6('53')));
    await proxier.sync(all());
  });

  it('leaves no rule behind in either family after cleanup', async () => {
    assert.match(await save('ip6tables-save'), /KUBE-PORTALS-CONTAINER/);
    await proxier.cleanup();
    await proxier.cleanup();
    for (const tool of ['iptables-save', 'ip6tables-save'] as const) {
      const saved = await lab.exec(lab.node.ns, [tool]);
      assert.doesNotMatch(saved.stdout, /KUBE-(PORTALS|NODEPORT)/, tool);
    }
  });
});
