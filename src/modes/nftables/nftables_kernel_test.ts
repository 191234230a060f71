/**
 * The nftables mode on a real kernel, in a lab (src/lab): the NftablesProxier programs the node namespace
 * through createExec({ netns }), and real connections from client namespaces, from a pod and from the
 * node itself go through the ruleset to the pods' identity servers. Every row of issue 14's list: cluster
 * IPs, NodePorts (and `--nodeport-addresses`), external IPs, load-balancer IPs with source ranges, TCP and
 * UDP (SCTP: the ruleset only, the lab has no SCTP server), ClientIP affinity, REJECT without endpoints,
 * DROP for `externalTrafficPolicy: Local` without a local endpoint, masquerading (seen in conntrack),
 * hairpin, a partial sync under traffic, a refused transaction that leaves the ruleset in place, a restart
 * over the table, and cleanup; another program's nft table and iptables rule stay untouched throughout.
 *
 * Addresses: lab clients 198.18.1.2 and 198.18.2.2, pods 198.18.101-103.2 (cluster CIDR 198.18.96.0/19),
 * node 198.18.0.1; VIPs 198.19.0.0/16 (cluster IPs 198.19.0.x, external IPs 198.19.1.x, LB IPs 198.19.2.x).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createExec, type Exec } from '../../kernel/exec.ts';
import { createNft, type Nft, NftTransactionError } from '../../kernel/nft.ts';
import { kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';
import { createLab, type Lab } from '../../lab/lab.ts';
import type { ProbeResult } from '../../lab/probe.ts';
import { countNames, runProbe } from '../../lab/run_probe.ts';
import type { ServicePortState } from '../../model/types.ts';
import {
  change,
  planOptions,
  proxyState,
  type ServicePortFixture,
  servicePort,
} from '../common/testing/fixtures.ts';
import type { ProxierDeps } from '../mode.ts';
import { nftablesMode } from './index.ts';
import { NftablesProxier, STALE_CHAIN_DELAY_MS } from './proxier.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, 'nft', 'conntrack', 'iptables-nft'] });

const CLUSTER_CIDR = '198.18.96.0/19';
/** Another program's ruleset in the node namespace: kproxy must never touch it. */
const OTHER_TABLE =
  'add table inet kpt-other\nadd chain inet kpt-other input { type filter hook input priority 10 ; }\nadd rule inet kpt-other input tcp dport 12345 counter accept\n';
const OTHER_IPTABLES_RULE = ['-t', 'filter', '-A', 'INPUT', '-p', 'tcp', '--dport', '12346', '-j', 'ACCEPT'];

const probe = (lab: Lab, ns: string, args: readonly string[]): Promise<ProbeResult> =>
  runProbe(lab, ns, args, 60_000);

describe('nftables mode on a real kernel', { skip }, () => {
  let lab: Lab;
  let exec: Exec;
  let nft: Nft;
  let deps: ProxierDeps;
  let proxier: NftablesProxier;
  /** Appended to the next script the proxier applies: a line nft refuses. */
  let poison: string | undefined;
  /** The services by name, as fixtures (so that a test can change one and build it again). */
  let specs = new Map<string, ServicePortFixture>();
  let ports: ServicePortState[] = [];
  const build = () => {
    ports = [...specs.values()].map((f) => servicePort(f));
  };
  const keyOf = (name: string) => ports.find((p) => p.serviceName === name)!.key;
  let version = 1;
  const sync = (options?: { full: boolean }) =>
    proxier.sync(proxyState(ports, version++), change([]), options);
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
    lab = await createLab({ tag: 'nft', clients: 2, pods: 3 });
    exec = createExec({ netns: lab.node.ns });
    const real = createNft(exec);
    nft = {
      ...real,
      apply: (script, o) => {
        const text = poison === undefined ? script : `${script}${poison}\n`;
        poison = undefined;
        return real.apply(text, o);
      },
    };
    await real.apply(OTHER_TABLE);
    const ipt = await exec('iptables-nft', OTHER_IPTABLES_RULE);
    assert.equal(ipt.code, 0, ipt.stderr);
    const pods = lab.pods.map((p) => `${p.ip}:9000`);
    const client0 = lab.clients[0]!.ip;
    const all: ServicePortFixture[] = [
      {
        serviceName: 'web',
        portName: 'banner',
        type: 'NodePort',
        port: 80,
        nodePort: 30080,
        clusterIPs: ['198.19.0.10'],
        externalIPs: ['198.19.1.10'],
        endpoints: pods,
      },
      {
        serviceName: 'sticky',
        portName: 'banner',
        port: 80,
        clusterIPs: ['198.19.0.11'],
        sessionAffinity: { type: 'ClientIP', timeoutSeconds: 600 },
        endpoints: pods,
      },
      { serviceName: 'empty', portName: 'banner', port: 80, clusterIPs: ['198.19.0.12'] },
      {
        serviceName: 'lb',
        portName: 'banner',
        type: 'LoadBalancer',
        port: 80,
        nodePort: 30082,
        clusterIPs: ['198.19.0.13'],
        loadBalancerIPs: ['198.19.2.10'],
        loadBalancerSourceRanges: [`${client0}/32`],
        endpoints: pods,
      },
      {
        serviceName: 'local',
        portName: 'banner',
        type: 'NodePort',
        port: 80,
        nodePort: 30081,
        externalTrafficPolicy: 'Local',
        clusterIPs: ['198.19.0.14'],
        endpoints: pods,
      },
      // Its only endpoint is pod0, on this node: pod0 reaching it reaches itself (hairpin).
      {
        serviceName: 'self',
        portName: 'banner',
        port: 80,
        clusterIPs: ['198.19.0.15'],
        endpoints: [{ address: pods[0]!, local: true }],
      },
      {
        serviceName: 'dns',
        portName: 'dns',
        protocol: 'UDP',
        port: 53,
        clusterIPs: ['198.19.0.53'],
        endpoints: pods,
      },
      {
        serviceName: 'assoc',
        portName: 'sctp',
        protocol: 'SCTP',
        port: 7777,
        clusterIPs: ['198.19.0.77'],
        endpoints: pods.map((p) => p.replace(':9000', ':7777')),
      },
    ];
    specs = new Map(all.map((f) => [f.serviceName!, f]));
    build();
    deps = {
      options: planOptions({ nodeIPs: [...lab.node.addresses], clusterCIDRs: [CLUSTER_CIDR] }),
      exec,
      logger: pino({ level: 'silent' }),
      iptablesBackend: 'auto',
    };
    proxier = new NftablesProxier(deps, { nft });
  });

  after(async () => {
    await lab?.destroy();
  });

  it('checks the host and syncs fully into the node namespace', async () => {
    await nftablesMode.checkHost(deps);
    const report = await sync();
    assert.equal(report.kind, 'full');
    const table = await nft.listTable('ip', 'kube-proxy');
    assert.ok(table?.chains.has('services'));
    assert.ok(table?.containers.has('canary'));
  });

  it('spreads connections from a client over every backend of a cluster IP', async () => {
    const r = await banner(lab.clients[0]!.ns, '198.19.0.10', 80, 60);
    assert.deepEqual(r.failures, []);
    const c = countNames(r.names);
    assert.deepEqual(Object.keys(c).sort(), ['pod0', 'pod1', 'pod2']);
    for (const n of Object.values(c)) assert.ok(n >= 6, `plausibly uniform: ${JSON.stringify(c)}`);
  });

  it('masquerades a client outside the cluster CIDR, not a pod inside it', async () => {
    await banner(lab.clients[0]!.ns, '198.19.0.10', 80, 3);
    await banner(lab.pods[1]!.ns, '198.19.0.10', 80, 10);
    const entries = await exec('conntrack', ['-L', '-p', 'tcp', '--orig-dst', '198.19.0.10']);
    // Each entry: the original tuple (client → VIP), then the reply tuple (endpoint → whom it answers).
    const flows = entries.stdout
      .split('\n')
      .map((l) => [...l.matchAll(/src=(\S+) dst=(\S+)/g)].map((m) => ({ src: m[1]!, dst: m[2]! })))
      .filter((t) => t.length === 2);
    const replies = (from: string) => flows.filter((t) => t[0]!.src === from).map((t) => t[1]!);
    const client = replies(lab.clients[0]!.ip);
    // pod1 reaching itself is masqueraded (hairpin), reaching another pod is not.
    const pod = replies(lab.pods[1]!.ip).filter((r) => r.src !== lab.pods[1]!.ip);
    assert.ok(client.length > 0 && pod.length > 0, entries.stdout);
    // Masqueraded: the endpoint answers the node (its address on the endpoint's link), not the client.
    for (const r of client) assert.ok(lab.node.addresses.includes(r.dst), `${r.dst}\n${entries.stdout}`);
    for (const r of pod) assert.equal(r.dst, lab.pods[1]!.ip, entries.stdout);
  });

  it('serves the node itself', async () => {
    const r = await banner(lab.node.ns, '198.19.0.10', 80, 30);
    assert.deepEqual(r.failures, []);
    assert.ok(Object.keys(countNames(r.names)).length >= 2, JSON.stringify(countNames(r.names)));
  });

  it('serves the NodePort and the external IP from another namespace', async () => {
    for (const [host, port] of [
      [lab.node.ip, 30080],
      ['198.19.1.10', 80],
    ] as const) {
      const r = await banner(lab.clients[0]!.ns, host, port, 30);
      assert.deepEqual(r.failures, [], `${host}:${port}`);
      assert.ok(Object.keys(countNames(r.names)).length >= 2, JSON.stringify(countNames(r.names)));
    }
  });

  it('lets only loadBalancerSourceRanges reach the LB IP (others are dropped)', async () => {
    const allowed = await banner(lab.clients[0]!.ns, '198.19.2.10', 80, 5);
    assert.deepEqual(allowed.failures, []);
    const blocked = await banner(lab.clients[1]!.ns, '198.19.2.10', 80, 1, 1500);
    assert.equal(blocked.names.length, 0);
    assert.match(blocked.failures[0] ?? '', /Timed out/);
  });

  it('keeps a client on one backend with ClientIP affinity', async () => {
    const r = await banner(lab.clients[0]!.ns, '198.19.0.11', 80, 20);
    assert.deepEqual(r.failures, []);
    assert.equal(new Set(r.names).size, 1, JSON.stringify(countNames(r.names)));
  });

  it('refuses at once a service without endpoints', async () => {
    const r = await banner(lab.clients[0]!.ns, '198.19.0.12', 80, 3);
    assert.equal(r.names.length, 0);
    for (const f of r.failures) assert.match(f, /ECONNREFUSED/);
    for (const ms of r.durationsMs) assert.ok(ms < 1000, `refused in ${ms} ms`);
  });

  it('drops external traffic to a Local-policy NodePort without a local endpoint; its cluster IP works', async () => {
    const dropped = await banner(lab.clients[0]!.ns, lab.node.ip, 30081, 1, 1500);
    assert.equal(dropped.names.length, 0);
    assert.match(dropped.failures[0] ?? '', /Timed out/);
    const internal = await banner(lab.clients[0]!.ns, '198.19.0.14', 80, 3);
    assert.deepEqual(internal.failures, []);
  });

  it('masquerades a pod that reaches itself through its service (hairpin)', async () => {
    const r = await banner(lab.pods[0]!.ns, '198.19.0.15', 80, 3);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.names, ['pod0', 'pod0', 'pod0']);
  });

  it('answers UDP through the cluster IP', async () => {
    const r = await probe(lab, lab.clients[0]!.ns, ['udp', '198.19.0.53', '53', '--count', '9', '--fresh']);
    assert.deepEqual(r.failures, []);
    assert.ok(new Set(r.names).size >= 2, JSON.stringify(countNames(r.names)));
  });

  it('holds the SCTP service in its maps', async () => {
    const ips = await nft.listContainer('ip', 'kube-proxy', 'map', 'service-ips');
    assert.ok(ips?.elements.some((e) => e.key.join(' . ') === '198.19.0.77 . sctp . 7777'));
    const endpoints = await nft.listContainer('ip', 'kube-proxy', 'map', 'endpoint-ips-sctp-0');
    assert.equal(endpoints?.elements.length, 3);
  });

  it('syncs an endpoint change partially, in a few lines, under traffic; stale UDP entries go', async () => {
    const udp = await probe(lab, lab.clients[0]!.ns, [
      'udp',
      '198.19.0.53',
      '53',
      '--count',
      '40',
      '--fresh',
    ]);
    assert.ok(udp.names.includes('pod2'), 'some flow went to pod2');
    const traffic = banner(lab.clients[1]!.ns, '198.19.0.10', 80, 200);
    const pods = lab.pods.map((p) => `${p.ip}:9000`);
    for (const name of ['dns', 'web']) specs.set(name, { ...specs.get(name)!, endpoints: pods.slice(0, 2) });
    build();
    const report = await proxier.sync(proxyState(ports, version++), change([keyOf('dns'), keyOf('web')]));
    assert.equal(report.kind, 'partial');
    assert.ok(report.restoreLines < 20, `${report.restoreLines} lines`);
    const during = await traffic;
    assert.deepEqual(during.failures, [], 'no connection failed while the rules changed');
    const afterwards = await banner(lab.clients[0]!.ns, '198.19.0.10', 80, 30);
    assert.ok(!afterwards.names.includes('pod2'), JSON.stringify(countNames(afterwards.names)));
    const ct = await exec('conntrack', ['-L', '-p', 'udp', '--orig-dst', '198.19.0.53']);
    assert.doesNotMatch(ct.stdout, new RegExp(`src=${lab.pods[2]!.ip.replaceAll('.', '\\.')} `), ct.stdout);
  });

  it('leaves the ruleset in place when nft refuses a sync, and gets it right at the next one', async () => {
    const before = await nft.listTable('ip', 'kube-proxy');
    poison = 'add rule ip kube-proxy services jump no-such-chain';
    specs.delete('lb');
    build();
    const error = await proxier
      .sync(proxyState(ports, version++), change([]), { full: true })
      .catch((e: unknown) => e);
    assert.ok(error instanceof NftTransactionError, String(error));
    assert.match(error.lineText ?? '', /no-such-chain/);
    assert.deepEqual(await nft.listTable('ip', 'kube-proxy'), before);
    const still = await banner(lab.clients[0]!.ns, '198.19.2.10', 80, 3);
    assert.deepEqual(still.failures, [], 'the old ruleset still serves the LB IP');
    assert.equal((await sync()).kind, 'full');
    const gone = await banner(lab.clients[0]!.ns, '198.19.2.10', 80, 1, 1500);
    assert.equal(gone.names.length, 0);
  });

  it('restores its table at the next sync after someone deleted it', async () => {
    await nft.deleteTable('ip', 'kube-proxy');
    const broken = await banner(lab.clients[0]!.ns, '198.19.0.10', 80, 1, 1500);
    assert.equal(broken.names.length, 0, 'the deletion took the service away');
    const sticky = specs.get('sticky')!;
    specs.set('sticky', { ...sticky, endpoints: sticky.endpoints!.slice(0, 2) });
    build();
    const report = await proxier.sync(proxyState(ports, version++), change([keyOf('sticky')]));
    assert.equal(report.kind, 'full');
    const r = await banner(lab.clients[0]!.ns, '198.19.0.10', 80, 5);
    assert.deepEqual(r.failures, []);
  });

  it('after a restart with --nodeport-addresses, serves NodePorts only there and removes what it no longer has', async () => {
    specs.delete('sticky');
    build();
    deps = {
      ...deps,
      options: planOptions({
        nodeIPs: [...lab.node.addresses],
        clusterCIDRs: [CLUSTER_CIDR],
        nodePortAddresses: [`${lab.node.ip}/32`],
      }),
    };
    let now = Date.now();
    proxier = new NftablesProxier(deps, { nft, now: () => now });
    assert.equal((await sync()).kind, 'full');
    now += STALE_CHAIN_DELAY_MS;
    await sync();
    const table = await nft.listTable('ip', 'kube-proxy');
    assert.ok(
      ![...(table?.chains.keys() ?? [])].some((c) => c.includes('/sticky/')),
      'sticky chains deleted',
    );
    assert.ok(
      ![...(table?.containers.keys() ?? [])].some((c) => c.startsWith('affinity-')),
      'affinity sets deleted',
    );
    const onNodeIP = await banner(lab.clients[0]!.ns, lab.node.ip, 30080, 3);
    assert.deepEqual(onNodeIP.failures, []);
    const elsewhere = await banner(lab.clients[0]!.ns, lab.clients[0]!.gateway, 30080, 1, 1500);
    assert.equal(elsewhere.names.length, 0);
    assert.match(elsewhere.failures[0] ?? '', /ECONNREFUSED/);
  });

  it("cleans up: no kube-proxy table is left, another program's table and iptables rule are untouched", async () => {
    await nftablesMode.cleanup(deps);
    const tables = await nft.listTables();
    assert.ok(!tables.some((t) => t.name === 'kube-proxy'), JSON.stringify(tables));
    assert.ok(tables.some((t) => t.family === 'inet' && t.name === 'kpt-other'));
    const other = await exec('nft', ['list', 'table', 'inet', 'kpt-other']);
    assert.match(other.stdout, /tcp dport 12345 counter packets \d+ bytes \d+ accept/);
    const ipt = await exec('iptables-nft', ['-t', 'filter', '-C', ...OTHER_IPTABLES_RULE.slice(3)]);
    assert.equal(ipt.code, 0, ipt.stderr);
    await nftablesMode.cleanup(deps);
  });
});
