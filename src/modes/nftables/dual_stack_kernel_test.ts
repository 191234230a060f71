/**
 * The nftables mode on a dual-stack node, on a real kernel, in a lab (src/lab): the daemon's
 * DualStackProxier runs one NftablesProxier per family in the node namespace (tables `ip kube-proxy` and
 * `ip6 kube-proxy`), and real IPv6 connections from client namespaces, from pods and from the node go
 * through the `ip6` ruleset to the pods' identity servers (which listen on both families). Issue 15's list
 * for this mode: a dual-stack Service answers on both VIPs; an IPv6-only ClientIP Service sticks; an IPv6
 * Service without endpoints is refused at once (ICMPv6); a NodePort answers on the node's IPv6 address;
 * IPv6 masquerading outside the cluster CIDR, and hairpin; UDP over IPv6 with its stale conntrack entries
 * deleted; nothing in the ip6 table for an IPv4-only Service; `nft -c` accepts what `kproxy rules
 * --ip-family IPv6` prints; cleanup removes both tables and leaves another program's alone.
 *
 * Addresses: lab clients 198.18.1.2 / 2001:2:0:c0::2 and 198.18.2.2 / 2001:2:0:c1::2, pods 198.18.101-103.2
 * / 2001:2:0:d0-d2::2 (cluster CIDRs 198.18.96.0/19 and 2001:2:0:d0::/60), node 198.18.0.1 / 2001:2::1;
 * VIPs 198.19.0.0/16 and 2001:2:0:f::/64.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createExec, type Exec } from '../../kernel/exec.ts';
import { createNft, type Nft } from '../../kernel/nft.ts';
import { kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';
import { KPROXY_ARGV } from '../../lab/kproxy_daemon.ts';
import { createLab, type Lab } from '../../lab/lab.ts';
import type { ProbeResult } from '../../lab/probe.ts';
import { countNames, runProbe } from '../../lab/run_probe.ts';
import type { ProxyState, ServicePortState } from '../../model/types.ts';
import {
  change,
  planOptions,
  proxyState,
  type ServicePortFixture,
  servicePort,
} from '../common/testing/fixtures.ts';
import { availableFamilies, DualStackProxier } from '../dual_stack.ts';
import type { ProxierDeps } from '../mode.ts';
import { nftablesMode } from './index.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, 'nft', 'conntrack'] });

const CLUSTER_CIDR = '198.18.96.0/19';
const CLUSTER_CIDR6 = '2001:2:0:d0::/60';
/** Another program's IPv6 ruleset in the node namespace: kproxy must never touch it. */
const OTHER_TABLE =
  'add table ip6 kpt-other\nadd chain ip6 kpt-other input { type filter hook input priority 10 ; }\nadd rule ip6 kpt-other input tcp dport 12345 counter accept\n';

const probe = (lab: Lab, ns: string, args: readonly string[]): Promise<ProbeResult> =>
  runProbe(lab, ns, args, 60_000);

describe('nftables mode on a real dual-stack kernel', { skip }, () => {
  let lab: Lab;
  let exec: Exec;
  let nft: Nft;
  let deps: ProxierDeps;
  let proxier: DualStackProxier;
  let specs = new Map<string, ServicePortFixture>();
  let ports: ServicePortState[] = [];
  let version = 1;
  const build = () => {
    ports = [...specs.values()].map((f) => servicePort(f));
  };
  const state = (): ProxyState => proxyState(ports, version++);
  const keyOf = (name: string) => ports.find((p) => p.serviceName === name)!.key;
  const banner = (ns: string, host: string, port: number, count: number, timeoutMs = 5000) =>
    probe(lab, ns, [
      'banner',
      host,
      String(port),
      '--count',
      String(count),
      '--timeout-ms',
      String(timeoutMs),
    ]);

  before(async () => {
    lab = await createLab({ tag: 'nft6', clients: 2, pods: 3 });
    exec = createExec({ netns: lab.node.ns });
    nft = createNft(exec);
    await nft.apply(OTHER_TABLE);
    const v4 = lab.pods.map((p) => `${p.ip}:9000`);
    const v6 = lab.pods.map((p) => `[${p.ip6}]:9000`);
    const all: ServicePortFixture[] = [
      {
        serviceName: 'both',
        portName: 'banner',
        type: 'NodePort',
        port: 80,
        nodePort: 30080,
        clusterIPs: ['198.19.0.10', '2001:2:0:f::10'],
        ipFamilies: ['IPv4', 'IPv6'],
        // The lab's pods are on this node: a pod reaching itself through the VIP is hairpinned.
        endpoints: [...v4, ...v6].map((address) => ({ address, local: true })),
      },
      {
        serviceName: 'sticky6',
        portName: 'banner',
        port: 80,
        clusterIPs: ['2001:2:0:f::11'],
        ipFamilies: ['IPv6'],
        sessionAffinity: { type: 'ClientIP', timeoutSeconds: 600 },
        endpoints: v6,
      },
      {
        serviceName: 'empty6',
        portName: 'banner',
        port: 80,
        clusterIPs: ['2001:2:0:f::12'],
        ipFamilies: ['IPv6'],
      },
      {
        serviceName: 'v4only',
        portName: 'banner',
        port: 80,
        clusterIPs: ['198.19.0.13'],
        ipFamilies: ['IPv4'],
        endpoints: v4,
      },
      {
        serviceName: 'lb6',
        portName: 'banner',
        type: 'LoadBalancer',
        port: 80,
        nodePort: 30082,
        clusterIPs: ['2001:2:0:f::14'],
        ipFamilies: ['IPv6'],
        loadBalancerIPs: ['2001:2:0:f::114'],
        loadBalancerSourceRanges: [`${lab.clients[0]!.ip6}/128`],
        endpoints: v6,
      },
      {
        serviceName: 'ports6',
        portName: 'banner',
        port: 80,
        clusterIPs: ['2001:2:0:f::16'],
        ipFamilies: ['IPv6'],
        endpoints: v6,
      },
      // Its only endpoint is pod0, on this node: pod0 reaching it reaches itself (hairpin).
      {
        serviceName: 'self6',
        portName: 'banner',
        port: 80,
        clusterIPs: ['2001:2:0:f::15'],
        ipFamilies: ['IPv6'],
        endpoints: [{ address: v6[0]!, local: true }],
      },
      {
        serviceName: 'dns6',
        portName: 'dns',
        protocol: 'UDP',
        port: 53,
        clusterIPs: ['2001:2:0:f::53'],
        ipFamilies: ['IPv6'],
        endpoints: v6,
      },
    ];
    specs = new Map(all.map((f) => [f.serviceName!, f]));
    build();
    deps = {
      options: planOptions({
        nodeIPs: [...lab.node.addresses, ...lab.node.addresses6],
        clusterCIDRs: [CLUSTER_CIDR, CLUSTER_CIDR6],
      }),
      exec,
      logger: pino({ level: 'silent' }),
      iptablesBackend: 'auto',
    };
  });

  after(async () => {
    await lab?.destroy();
  });

  it('finds both families available, and syncs one table per family', async () => {
    const { families } = await availableFamilies(nftablesMode, deps, async () => undefined, deps.logger);
    assert.deepEqual(families, ['IPv4', 'IPv6']);
    proxier = new DualStackProxier(nftablesMode, deps, families);
    const report = await proxier.sync(state(), change([]));
    assert.equal(report.kind, 'full');
    assert.ok((await nft.listTable('ip', 'kube-proxy'))?.chains.has('services'));
    assert.ok((await nft.listTable('ip6', 'kube-proxy'))?.containers.has('canary'));
  });

  it('answers a dual-stack Service on both VIPs, each family with its own endpoints', async () => {
    for (const vip of ['198.19.0.10', '2001:2:0:f::10']) {
      const r = await banner(lab.clients[0]!.ns, vip, 80, 45);
      assert.deepEqual(r.failures, [], vip);
      const c = countNames(r.names);
      assert.deepEqual(Object.keys(c).sort(), ['pod0', 'pod1', 'pod2'], vip);
      for (const n of Object.values(c)) assert.ok(n >= 4, `${vip} plausibly uniform: ${JSON.stringify(c)}`);
    }
    const conntrack = await exec('conntrack', [
      '-L',
      '-f',
      'ipv6',
      '-p',
      'tcp',
      '--orig-dst',
      '2001:2:0:f::10',
    ]);
    // The IPv6 VIP went to IPv6 endpoints only (the reply tuple's source is the endpoint).
    for (const m of conntrack.stdout.matchAll(/dport=80 .*?src=(\S+)/g)) {
      assert.match(m[1]!, /^2001:2:0:d[0-2]::2$/, conntrack.stdout);
    }
  });

  it('masquerades IPv6 clients outside the cluster CIDR, not a pod inside it', async () => {
    await banner(lab.clients[0]!.ns, '2001:2:0:f::10', 80, 3);
    const fromPod = await banner(lab.pods[1]!.ns, '2001:2:0:f::10', 80, 10);
    assert.deepEqual(fromPod.failures, [], 'a pod reaches every endpoint, itself too (hairpin)');
    const entries = await exec('conntrack', [
      '-L',
      '-f',
      'ipv6',
      '-p',
      'tcp',
      '--orig-dst',
      '2001:2:0:f::10',
    ]);
    const flows = entries.stdout
      .split('\n')
      .map((l) => [...l.matchAll(/src=(\S+) dst=(\S+)/g)].map((m) => ({ src: m[1]!, dst: m[2]! })))
      .filter((t) => t.length === 2);
    const replies = (from: string) => flows.filter((t) => t[0]!.src === from).map((t) => t[1]!);
    const client = replies(lab.clients[0]!.ip6);
    const pod = replies(lab.pods[1]!.ip6).filter((r) => r.src !== lab.pods[1]!.ip6);
    const self = replies(lab.pods[1]!.ip6).filter((r) => r.src === lab.pods[1]!.ip6);
    assert.ok(client.length > 0 && pod.length > 0, entries.stdout);
    // Reaching itself, the pod is answered by way of the node (masqueraded).
    for (const r of self) assert.ok(lab.node.addresses6.includes(r.dst), `${r.dst}\n${entries.stdout}`);
    for (const r of client) assert.ok(lab.node.addresses6.includes(r.dst), `${r.dst}\n${entries.stdout}`);
    for (const r of pod) assert.equal(r.dst, lab.pods[1]!.ip6, entries.stdout);
  });

  it("answers the NodePort on the node's IPv6 address", async () => {
    const r = await banner(lab.clients[0]!.ns, lab.node.ip6, 30080, 30);
    assert.deepEqual(r.failures, []);
    assert.ok(Object.keys(countNames(r.names)).length >= 2, JSON.stringify(countNames(r.names)));
    // pod IPs answering: IPv6 endpoints only.
    const viaGateway = await banner(lab.clients[1]!.ns, lab.clients[1]!.gateway6, 30080, 5);
    assert.deepEqual(viaGateway.failures, []);
  });

  it('serves the node itself over IPv6', async () => {
    const r = await banner(lab.node.ns, '2001:2:0:f::10', 80, 20);
    assert.deepEqual(r.failures, []);
    assert.ok(Object.keys(countNames(r.names)).length >= 2, JSON.stringify(countNames(r.names)));
  });

  it('keeps an IPv6 client on one backend with ClientIP affinity', async () => {
    const r = await banner(lab.clients[0]!.ns, '2001:2:0:f::11', 80, 20);
    assert.deepEqual(r.failures, []);
    assert.equal(new Set(r.names).size, 1, JSON.stringify(countNames(r.names)));
    const other = await banner(lab.clients[1]!.ns, '2001:2:0:f::11', 80, 10);
    assert.equal(new Set(other.names).size, 1, JSON.stringify(countNames(other.names)));
  });

  it('refuses at once an IPv6 Service without endpoints (ICMPv6), and an unused port of a cluster IP', async () => {
    // The lab routes its IPv6 VIP range to the node's lo, which IPv6 turns into a reject route (a route
    // through loopback would loop): a packet no DNAT claims would get "no route" from routing before the
    // forward hook. On a real node such a packet follows the default route out, through the forward hook:
    // so route these two VIPs out of a link, as a default route would, in the node namespace.
    for (const vip of ['2001:2:0:f::12', '2001:2:0:f::16']) {
      const r = await exec('ip', ['-6', 'route', 'add', `${vip}/128`, 'dev', 'kc1']);
      assert.equal(r.code, 0, r.stderr);
    }
    // What the client sends and gets back, counted in its own namespace: every SYN must be answered by an
    // ICMPv6 port unreachable (a DROP would answer none, "no route" would be another code).
    const client = lab.clients[0]!;
    const clientExec = createExec({ netns: client.ns });
    const counted = await clientExec('nft', ['-f', '-'], {
      input: [
        'add table ip6 kpt-count',
        'add chain ip6 kpt-count out { type filter hook output priority 0 ; }',
        'add chain ip6 kpt-count in { type filter hook input priority 0 ; }',
        'add rule ip6 kpt-count out tcp flags syn tcp dport { 80, 81 } counter',
        'add rule ip6 kpt-count in icmpv6 type destination-unreachable icmpv6 code port-unreachable counter',
        '',
      ].join('\n'),
    });
    assert.equal(counted.code, 0, counted.stderr);
    for (const [vip, port] of [
      ['2001:2:0:f::12', 80],
      ['2001:2:0:f::16', 81],
    ] as const) {
      const r = await banner(client.ns, vip, port, 3);
      assert.equal(r.names.length, 0);
      for (const f of r.failures) assert.match(f, /ECONNREFUSED/, `${vip}:${port}`);
    }
    const listing = await clientExec('nft', ['list', 'table', 'ip6', 'kpt-count']);
    const [syns, unreachables] = [...listing.stdout.matchAll(/counter packets (\d+)/g)].map((m) =>
      Number(m[1]),
    );
    assert.ok(syns !== undefined && syns >= 6, listing.stdout);
    assert.equal(unreachables, syns, `every SYN refused by an ICMPv6 port unreachable\n${listing.stdout}`);
    // Its used port still answers (DNAT comes before routing).
    const served = await banner(client.ns, '2001:2:0:f::16', 80, 3);
    assert.deepEqual(served.failures, []);
  });

  it('lets only loadBalancerSourceRanges reach the IPv6 LB IP (others are dropped)', async () => {
    const allowed = await banner(lab.clients[0]!.ns, '2001:2:0:f::114', 80, 5);
    assert.deepEqual(allowed.failures, []);
    const blocked = await banner(lab.clients[1]!.ns, '2001:2:0:f::114', 80, 1, 1500);
    assert.equal(blocked.names.length, 0);
    assert.match(blocked.failures[0] ?? '', /Timed out/);
  });

  it('masquerades an IPv6 pod that reaches itself through its service (hairpin)', async () => {
    const r = await banner(lab.pods[0]!.ns, '2001:2:0:f::15', 80, 3);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.names, ['pod0', 'pod0', 'pod0']);
  });

  it('plans nothing in the ip6 table for an IPv4-only Service, and no IPv6 in the ip table', async () => {
    const v6 = await nft.listContainer('ip6', 'kube-proxy', 'set', 'cluster-ips');
    const v4 = await nft.listContainer('ip', 'kube-proxy', 'set', 'cluster-ips');
    assert.deepEqual(
      v6?.elements.map((e) => e.key.join()),
      [
        '2001:2:0:f::10',
        '2001:2:0:f::11',
        '2001:2:0:f::12',
        '2001:2:0:f::14',
        '2001:2:0:f::15',
        '2001:2:0:f::16',
        '2001:2:0:f::53',
      ],
    );
    assert.deepEqual(
      v4?.elements.map((e) => e.key.join()),
      ['198.19.0.10', '198.19.0.13'],
    );
    const listing = await exec('nft', ['list', 'table', 'ip6', 'kube-proxy']);
    assert.doesNotMatch(listing.stdout, /v4only|198\.19\./);
    const r = await banner(lab.clients[0]!.ns, '198.19.0.13', 80, 3);
    assert.deepEqual(r.failures, [], 'the IPv4-only Service works');
  });

  it('answers UDP over IPv6; an endpoint change syncs partially and deletes its stale IPv6 entries', async () => {
    const udp = await probe(lab, lab.clients[0]!.ns, [
      'udp',
      '2001:2:0:f::53',
      '53',
      '--count',
      '30',
      '--fresh',
    ]);
    assert.deepEqual(udp.failures, []);
    assert.ok(udp.names.includes('pod2'), JSON.stringify(countNames(udp.names)));
    const dns = specs.get('dns6')!;
    specs.set('dns6', { ...dns, endpoints: dns.endpoints!.slice(0, 2) });
    build();
    const report = await proxier.sync(state(), change([keyOf('dns6')]));
    assert.equal(report.kind, 'partial');
    assert.equal(report.families.get('IPv6')?.ok, true);
    const ct = await exec('conntrack', ['-L', '-f', 'ipv6', '-p', 'udp', '--orig-dst', '2001:2:0:f::53']);
    assert.doesNotMatch(ct.stdout, new RegExp(`src=${lab.pods[2]!.ip6} `), ct.stdout);
    const afterwards = await probe(lab, lab.clients[0]!.ns, [
      'udp',
      '2001:2:0:f::53',
      '53',
      '--count',
      '20',
      '--fresh',
    ]);
    assert.deepEqual(afterwards.failures, []);
    assert.ok(!afterwards.names.includes('pod2'), JSON.stringify(countNames(afterwards.names)));
  });

  it('has nft -c accept what `kproxy rules --ip-family IPv6` prints, and both families together', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kproxy-nft6-'));
    try {
      // A dual-stack Service with IPv4 and IPv6 EndpointSlices, as a user writes them.
      await writeFile(
        join(dir, 'web.yaml'),
        `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: nft6 }
spec:
  type: NodePort
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv6, IPv4]
  clusterIP: 2001:2:0:f::40
  clusterIPs: [2001:2:0:f::40, 198.19.0.40]
  ports: [{ name: http, port: 80, targetPort: 9000, nodePort: 30090 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: nft6, labels: { kubernetes.io/service-name: web } }
addressType: IPv6
ports: [{ name: http, port: 9000, protocol: TCP }]
endpoints:
${lab.pods.map((p) => `  - addresses: ['${p.ip6}']`).join('\n')}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-2, namespace: nft6, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 9000, protocol: TCP }]
endpoints:
${lab.pods.map((p) => `  - addresses: ['${p.ip}']`).join('\n')}
`,
      );
      const rules = (family: readonly string[]) =>
        lab.exec(lab.node.ns, [
          ...KPROXY_ARGV,
          'rules',
          '--proxy-mode',
          'nftables',
          ...family,
          '--manifests',
          dir,
          '--hostname-override',
          'node-a',
          '--cluster-cidr',
          `${CLUSTER_CIDR},${CLUSTER_CIDR6}`,
        ]);
      const v6 = await rules(['--ip-family', 'IPv6']);
      assert.equal(v6.code, 0, v6.stderr);
      assert.match(v6.stdout, /^add table ip6 kube-proxy/);
      assert.match(v6.stdout, /^\t2001:2:0:f::40 \. tcp \. 80 : goto /m);
      assert.doesNotMatch(v6.stdout, /198\.19\./);
      const both = await rules([]);
      assert.equal(both.code, 0, both.stderr);
      assert.match(both.stdout, /^# IPv4\nadd table ip kube-proxy/);
      assert.match(both.stdout, /^# IPv6\nadd table ip6 kube-proxy/m);
      for (const text of [v6.stdout, both.stdout]) {
        const check = await exec('nft', ['-c', '-f', '-'], { input: text });
        assert.equal(check.code, 0, check.stderr);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("cleans up both tables, and leaves another program's ip6 table alone", async () => {
    await proxier.stop();
    await nftablesMode.cleanup(deps);
    const tables = await nft.listTables();
    assert.ok(!tables.some((t) => t.name === 'kube-proxy'), JSON.stringify(tables));
    const other = await exec('nft', ['list', 'table', 'ip6', 'kpt-other']);
    assert.match(other.stdout, /tcp dport 12345 counter packets \d+ bytes \d+ accept/);
    await nftablesMode.cleanup(deps);
  });
});
