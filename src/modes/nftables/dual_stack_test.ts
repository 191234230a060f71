/**
 * The nftables mode on a dual-stack node: the `ip6 kube-proxy` table as golden files (IPv6 alone, and both
 * families as `kproxy rules` prints them), IPv4 output unchanged, nothing planned for a family a Service
 * does not have, IPv6 packet flows through the tracer, and one Proxier per family over the strict fake
 * (each touching its own table only), with cleanup and the host check per family. Regenerate the golden
 * files with `KPROXY_UPDATE_GOLDEN=1 node --import tsx --test src/modes/nftables/dual_stack_test.ts` and
 * review the diff line by line.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { planOptionsForFamily } from '../../contracts/plan_options.ts';
import { NftUnavailableError } from '../../kernel/nft.ts';
import { FakeConntrack } from '../../kernel/testing/conntrack_fake.ts';
import { FakeNft } from '../../kernel/testing/nft_fake.ts';
import type { IPFamily, ServicePortState } from '../../model/types.ts';
import { familyView } from '../../tracker/family_view.ts';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import { assertPacketFlow, flowPacket, type PacketFlow } from '../common/testing/packet_flows.ts';
import { SCENARIOS } from '../common/testing/scenarios.ts';
import {
  availableFamilies,
  DualStackProxier,
  familyOptionsView,
  renderFamilies,
  traceFamily,
} from '../dual_stack.ts';
import type { ProxierDeps } from '../mode.ts';
import { cleanupNftablesMode } from './cleanup.ts';
import { nftablesMode } from './index.ts';
import { planNftables } from './plan.ts';
import { NftablesProxier } from './proxier.ts';
import { renderNftablesPlan } from './render.ts';
import {
  BLOCKED_CLIENT6,
  DUAL_STACK_SCENARIO,
  dualStackOptions,
  EXTERNAL_CLIENT6,
  EXTERNAL_IP6,
  IPV6_SCENARIOS,
  LB_IP6,
  NODE_IP6,
  OTHER_NODE_IP6,
  POD_CLIENT6,
} from './testing/ipv6_scenarios.ts';
import { tableDump } from './testing/table_dump.ts';

const update = process.env['KPROXY_UPDATE_GOLDEN'] === '1';

function golden(name: string, text: string): void {
  const file = new URL(`./testdata/${name}.golden`, import.meta.url);
  if (update) writeFileSync(file, text);
  assert.equal(text, readFileSync(file, 'utf8'));
}

/** A dotted quad: no IPv4 address may appear in an `ip6` script (the mark is hexadecimal). */
const IPV4_ADDRESS = /\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/;

describe('nftables golden files: IPv6 and dual-stack', () => {
  for (const s of IPV6_SCENARIOS) {
    it(s.name, () => golden(s.name, renderFamilies(nftablesMode, s.state, s.options, 'IPv6')));
  }
  it(DUAL_STACK_SCENARIO.name, () => {
    const s = DUAL_STACK_SCENARIO;
    golden(s.name, renderFamilies(nftablesMode, s.state, s.options));
  });
});

describe('nftables per-family plans', () => {
  it('IPv4 output is what it was: every IPv4 golden file, planned as the IPv4 family', () => {
    for (const s of SCENARIOS) {
      const text = readFileSync(new URL(`./testdata/${s.name}.golden`, import.meta.url), 'utf8');
      const plan = planNftables(familyView(s.state, 'IPv4'), planOptionsForFamily(s.options, 'IPv4'));
      assert.equal(renderNftablesPlan(plan), text, s.name);
      assert.equal(
        renderFamilies(nftablesMode, s.state, s.options, 'IPv4'),
        nftablesMode.renderRules(s.state, s.options),
        s.name,
      );
    }
  });

  it('the dual-stack script is the IPv4 script, then the IPv6 one, each of its family alone', () => {
    const s = DUAL_STACK_SCENARIO;
    const v4 = renderFamilies(nftablesMode, s.state, s.options, 'IPv4');
    const v6 = renderFamilies(nftablesMode, s.state, s.options, 'IPv6');
    assert.equal(renderFamilies(nftablesMode, s.state, s.options), `# IPv4\n${v4}# IPv6\n${v6}`);
    assert.doesNotMatch(v4, /ip6|ipv6_addr|fd00:|2001:db8:/);
    assert.doesNotMatch(v6, IPV4_ADDRESS);
    assert.doesNotMatch(v6, /(?:add|flush|delete) \w+ ip kube-proxy|\bip (?:saddr|daddr)\b|ipv4_addr/);
  });

  it('plans nothing in a family the Service does not have', () => {
    const s = DUAL_STACK_SCENARIO;
    const keys = (family: IPFamily) => [
      ...planNftables(
        familyView(s.state, family),
        planOptionsForFamily(s.options, family),
      ).servicePorts.keys(),
    ];
    assert.deepEqual(keys('IPv4'), ['ns1/both:p80/TCP', 'ns1/halfempty:p80/TCP', 'ns1/v4only:p80/TCP']);
    assert.deepEqual(keys('IPv6'), ['ns1/both:p80/TCP', 'ns1/halfempty:p80/TCP', 'ns1/v6only:p80/TCP']);
  });

  it('ignores addresses of the other family even when handed a state of both', () => {
    const s = DUAL_STACK_SCENARIO;
    const options = planOptionsForFamily(s.options, 'IPv6');
    const fromBoth = nftablesMode.renderRules(s.state, options);
    assert.equal(fromBoth, nftablesMode.renderRules(familyView(s.state, 'IPv6'), options));
    assert.doesNotMatch(fromBoth, IPV4_ADDRESS);
  });

  it('keeps the IPv6 no-endpoint REJECT of a dual-stack Service whose IPv6 endpoints are missing', () => {
    const text = renderFamilies(nftablesMode, DUAL_STACK_SCENARIO.state, DUAL_STACK_SCENARIO.options, 'IPv6');
    assert.match(text, /^\tfd00:172:30::44 \. tcp \. 80 comment "ns1\/halfempty:p80" : goto reject-chain/m);
    assert.match(text, /^add rule ip6 kube-proxy reject-chain reject$/m);
  });
});

const [ipv6] = IPV6_SCENARIOS;
const ep = (host: string, port = 80) => `[fd00:10:180::${host}]:${port}`;

/** IPv6 packet flows through the `ipv6` scenario (as the shared IPv4 tables, with IPv6 addresses). */
const IPV6_FLOWS: PacketFlow[] = [
  {
    name: 'pod to cluster IP',
    source: POD_CLIENT6,
    destination: 'fd00:172:30::41',
    port: 80,
    output: `${ep('1')}, ${ep('2')}, ${ep('3')}`,
    masq: false,
  },
  {
    name: 'external to cluster IP (outside the cluster CIDR: masqueraded)',
    source: EXTERNAL_CLIENT6,
    destination: 'fd00:172:30::41',
    port: 80,
    output: `${ep('1')}, ${ep('2')}, ${ep('3')}`,
    masq: true,
  },
  {
    name: 'cluster IP, unknown port: rejected (ICMPv6)',
    source: POD_CLIENT6,
    destination: 'fd00:172:30::41',
    port: 81,
    output: 'REJECT',
    masq: false,
  },
  {
    name: 'external to NodePort on the node IPv6 address',
    source: EXTERNAL_CLIENT6,
    destination: NODE_IP6,
    port: 30080,
    output: `${ep('1')}, ${ep('2')}`,
    masq: true,
  },
  {
    name: 'node to its own NodePort over IPv6 loopback: no localhost NodePorts',
    source: '::1',
    destination: '::1',
    port: 30080,
    output: '',
    masq: false,
  },
  {
    name: 'NodePort on another node IPv6 address: not ours',
    source: EXTERNAL_CLIENT6,
    destination: OTHER_NODE_IP6,
    port: 30080,
    output: '',
    masq: false,
  },
  {
    name: 'external to external IP',
    source: EXTERNAL_CLIENT6,
    destination: EXTERNAL_IP6,
    port: 80,
    output: `${ep('1')}, ${ep('2')}`,
    masq: true,
  },
  {
    name: 'allowed client to load-balancer IP',
    source: EXTERNAL_CLIENT6,
    destination: LB_IP6,
    port: 80,
    output: `${ep('1')}, ${ep('2')}`,
    masq: true,
  },
  {
    name: 'blocked client to load-balancer IP: dropped by the firewall',
    source: BLOCKED_CLIENT6,
    destination: LB_IP6,
    port: 80,
    output: 'DROP',
    masq: false,
  },
  {
    name: 'node to load-balancer IP (the node is in a source range: allowed)',
    source: NODE_IP6,
    destination: LB_IP6,
    port: 80,
    output: `${ep('1')}, ${ep('2')}`,
    masq: true,
  },
  {
    name: 'load-balancer source ranges do not apply to the NodePort',
    source: BLOCKED_CLIENT6,
    destination: NODE_IP6,
    port: 30081,
    output: `${ep('1')}, ${ep('2')}`,
    masq: true,
  },
  {
    name: 'cluster IP without endpoints: rejected',
    source: POD_CLIENT6,
    destination: 'fd00:172:30::46',
    port: 80,
    output: 'REJECT',
    masq: false,
  },
  {
    name: 'NodePort without endpoints: rejected',
    source: EXTERNAL_CLIENT6,
    destination: NODE_IP6,
    port: 30082,
    output: 'REJECT',
    masq: false,
  },
  {
    name: 'external to Local-policy NodePort: the local endpoint only, source kept',
    source: EXTERNAL_CLIENT6,
    destination: NODE_IP6,
    port: 30083,
    output: ep('10'),
    masq: false,
  },
  {
    name: 'pod to Local-policy NodePort: short-circuited to every endpoint',
    source: POD_CLIENT6,
    destination: NODE_IP6,
    port: 30083,
    output: `${ep('10')}, ${ep('11')}`,
    masq: false,
  },
  {
    name: 'hairpin: a local endpoint reaching itself through its cluster IP is masqueraded',
    source: 'fd00:10:180::10',
    destination: 'fd00:172:30::47',
    port: 80,
    output: `${ep('10')}, ${ep('11')}`,
    masq: true,
  },
  {
    name: 'pod to UDP cluster IP',
    source: POD_CLIENT6,
    destination: 'fd00:172:30::48',
    port: 53,
    protocol: 'UDP',
    output: `${ep('1', 53)}, ${ep('2', 53)}`,
    masq: false,
  },
  {
    name: 'session affinity: the first packet may reach either endpoint',
    source: POD_CLIENT6,
    destination: 'fd00:172:30::45',
    port: 80,
    output: `${ep('1')}, ${ep('2')}`,
    masq: false,
  },
];

describe('nftables packet flows: IPv6', () => {
  for (const f of IPV6_FLOWS) {
    it(f.name, () => {
      assertPacketFlow(traceFamily(nftablesMode, ipv6!.state, ipv6!.options, flowPacket(f)), f);
    });
  }

  it('reads addresses in any spelling, and prints backends as [address]:port', () => {
    const r = traceFamily(nftablesMode, ipv6!.state, ipv6!.options, {
      source: 'FD00:10:1:0:0:0:0:2',
      destination: 'fd00:172:30:0::41',
      port: 80,
      protocol: 'TCP',
    });
    assert.deepEqual(
      r.backends.map((b) => b.address),
      [ep('1'), ep('2'), ep('3')],
    );
    assert.ok(
      r.path.some((step) => step.includes('dnat ip6 to numgen random mod 3')),
      r.path.join('\n'),
    );
  });

  it('an IPv4 packet never reaches the ip6 table', () => {
    const options = planOptionsForFamily(ipv6!.options, 'IPv6');
    const r = nftablesMode.trace(familyView(ipv6!.state, 'IPv6'), options, {
      source: '10.0.0.2',
      destination: '172.30.0.41',
      port: 80,
      protocol: 'TCP',
    });
    assert.equal(r.verdict, 'NONE');
    assert.deepEqual(r.path, ['Only IPv6 packets go through table ip6 kube-proxy']);
  });

  it('a dual-stack Service answers on both VIPs, each with the endpoints of its family', () => {
    const s = DUAL_STACK_SCENARIO;
    const trace = (source: string, destination: string) =>
      traceFamily(nftablesMode, s.state, s.options, { source, destination, port: 80, protocol: 'TCP' });
    assert.deepEqual(
      trace('10.0.0.2', '172.30.0.41').backends.map((b) => b.address),
      ['10.180.0.1:80', '10.180.0.2:80'],
    );
    assert.deepEqual(
      trace(POD_CLIENT6, 'fd00:172:30::41').backends.map((b) => b.address),
      [ep('1'), ep('2')],
    );
    assert.equal(trace(POD_CLIENT6, 'fd00:172:30::44').verdict, 'REJECT');
    assert.equal(trace('10.0.0.2', '172.30.0.44').verdict, 'DNAT');
  });
});

/** A log line: its level and fields. */
type LogLine = Record<string, unknown> & { level: number; msg: string };

function deps(fake: FakeNft, lines: LogLine[] = []): ProxierDeps {
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  return { options: dualStackOptions(), exec: fake.exec, logger, iptablesBackend: 'auto' };
}

/** The Proxier of one family, as DualStackProxier makes it, with a recording conntrack. */
function familyProxier(fake: FakeNft, family: IPFamily, ct = new FakeConntrack()): NftablesProxier {
  const d = deps(fake);
  return new NftablesProxier({ ...d, options: familyOptionsView(d.options, family) }, { conntrack: ct });
}

const v6web = servicePort({
  serviceName: 'web6',
  clusterIPs: ['fd00:172:30::10'],
  ipFamilies: ['IPv6'],
  endpoints: ['[fd00:10:180::1]:80', '[fd00:10:180::2]:80'],
});
const v6dns = servicePort({
  serviceName: 'dns6',
  clusterIPs: ['fd00:172:30::53'],
  ipFamilies: ['IPv6'],
  protocol: 'UDP',
  port: 53,
  portName: 'dns',
  type: 'NodePort',
  nodePort: 30053,
  endpoints: ['[fd00:10:180::5]:53', '[fd00:10:180::6]:53'],
});
const v4web = servicePort({
  serviceName: 'web4',
  clusterIPs: ['172.30.0.10'],
  ipFamilies: ['IPv4'],
  endpoints: ['10.180.0.1:80'],
});

function replaced(ports: readonly ServicePortState[], port: ServicePortState): ServicePortState[] {
  return ports.map((p) => (p.key === port.key ? port : p));
}

describe('NftablesProxier per family', () => {
  it('the IPv6 Proxier owns ip6 kube-proxy and never names the ip table', async () => {
    const fake = new FakeNft();
    const ct = new FakeConntrack();
    const proxier = familyProxier(fake, 'IPv6', ct);
    const ports = [v4web, v6web, v6dns];
    await proxier.sync(familyView(proxyState(ports), 'IPv6'), change([]));
    const v6web2 = servicePort({ ...v6web, endpoints: ['[fd00:10:180::1]:80', '[fd00:10:180::9]:80'] });
    const v6dns2 = servicePort({ ...v6dns, endpoints: ['[fd00:10:180::5]:53'] });
    const next = proxyState(replaced(replaced(ports, v6web2), v6dns2), 2);
    const report = await proxier.sync(familyView(next, 'IPv6'), change([v6web2.key, v6dns2.key]));
    assert.equal(report.kind, 'partial');
    for (const t of fake.transactions) assert.doesNotMatch(t.script, / ip kube-proxy\b/);
    assert.equal(fake.chains('ip', 'kube-proxy'), undefined);
    assert.deepEqual(fake.elements('ip6', 'kube-proxy', 'cluster-ips'), [
      'fd00:172:30::10',
      'fd00:172:30::53',
    ]);
    assert.deepEqual(fake.elements('ip6', 'kube-proxy', 'endpoint-ips-tcp-0'), [
      '0 : fd00:10:180::1',
      '1 : fd00:10:180::9',
    ]);
    // Partial syncs leave the table a fresh full sync would.
    const fresh = new FakeNft();
    await familyProxier(fresh, 'IPv6').sync(familyView(next, 'IPv6'), change([]));
    assert.deepEqual(await tableDump(fake, 'ip6'), await tableDump(fresh, 'ip6'));
    // The stale IPv6 UDP entries: to the removed endpoint, through the cluster IP and the node port.
    assert.deepEqual(ct.calls, [
      'service-nat fd00:172:30::53 fd00:10:180::6',
      'node-port-nat 30053 fd00:10:180::6',
    ]);
  });

  it('one Proxier per family: each table holds only its family of Services', async () => {
    const fake = new FakeNft();
    const d = deps(fake);
    const proxier = new DualStackProxier(nftablesMode, d, ['IPv4', 'IPv6']);
    const s = DUAL_STACK_SCENARIO;
    const report = await proxier.sync(s.state, change([]));
    assert.deepEqual([...report.families.keys()], ['IPv4', 'IPv6']);
    assert.deepEqual(fake.elements('ip', 'kube-proxy', 'cluster-ips'), [
      '172.30.0.41',
      '172.30.0.42',
      '172.30.0.44',
    ]);
    assert.deepEqual(fake.elements('ip6', 'kube-proxy', 'cluster-ips'), [
      'fd00:172:30::41',
      'fd00:172:30::43',
      'fd00:172:30::44',
    ]);
    // What each table holds is what `kproxy rules --ip-family` prints for it.
    for (const [family, table] of [
      ['IPv4', 'ip'],
      ['IPv6', 'ip6'],
    ] as const) {
      const printed = new FakeNft();
      printed.answer(['-f', '-'], renderFamilies(nftablesMode, s.state, s.options, family));
      assert.deepEqual(await tableDump(fake, table), await tableDump(printed, table), family);
    }
  });

  it('syncs the IPv6 table fully when its canary is gone, leaving the IPv4 table alone', async () => {
    const fake = new FakeNft();
    const v4 = familyProxier(fake, 'IPv4');
    const v6 = familyProxier(fake, 'IPv6');
    const state = proxyState([v4web, v6web]);
    await v4.sync(familyView(state, 'IPv4'), change([]));
    await v6.sync(familyView(state, 'IPv6'), change([]));
    fake.answer(['delete', 'table', 'ip6', 'kube-proxy'], '');
    const v6web2 = servicePort({ ...v6web, endpoints: ['[fd00:10:180::3]:80'] });
    const next = proxyState([v4web, v6web2], 2);
    const before = fake.transactions.length;
    await v6.sync(familyView(next, 'IPv6'), change([v6web2.key]));
    const scripts = fake.transactions.slice(before).map((t) => t.script);
    assert.match(scripts[0]!, /^flush set ip6 kube-proxy canary$/m);
    assert.match(scripts.at(-1)!, /^add table ip6 kube-proxy/);
    assert.deepEqual(fake.elements('ip6', 'kube-proxy', 'cluster-ips'), ['fd00:172:30::10']);
    assert.deepEqual(fake.elements('ip', 'kube-proxy', 'cluster-ips'), ['172.30.0.10']);
  });

  it('after a restart, the IPv6 Proxier lists its own table and removes what the earlier run left', async () => {
    const fake = new FakeNft();
    await familyProxier(fake, 'IPv6').sync(familyView(proxyState([v6web, v6dns]), 'IPv6'), change([]));
    const restarted = familyProxier(fake, 'IPv6');
    await restarted.sync(familyView(proxyState([v6web], 2), 'IPv6'), change([]));
    const fresh = new FakeNft();
    await familyProxier(fresh, 'IPv6').sync(familyView(proxyState([v6web], 2), 'IPv6'), change([]));
    const left = await tableDump(fake, 'ip6');
    const want = await tableDump(fresh, 'ip6');
    // The earlier run's chains are flushed now and deleted a second later: their rules are gone already.
    assert.deepEqual(left?.containers, want?.containers);
    for (const [name, rules] of Object.entries(left?.chains ?? {})) {
      assert.deepEqual(rules, want?.chains[name] ?? [], name);
    }
  });
});

describe('kproxy cleanup and the host check (nftables, both families)', () => {
  it('cleanup deletes both tables and leaves others alone', async () => {
    const fake = new FakeNft();
    await new DualStackProxier(nftablesMode, deps(fake), ['IPv4', 'IPv6']).sync(
      DUAL_STACK_SCENARIO.state,
      change([]),
    );
    fake.answer(['-f', '-'], 'add table ip6 other\n');
    await cleanupNftablesMode(deps(fake));
    assert.equal(fake.chains('ip', 'kube-proxy'), undefined);
    assert.equal(fake.chains('ip6', 'kube-proxy'), undefined);
    assert.deepEqual(fake.chains('ip6', 'other'), []);
  });

  it('checks the ip6 features for IPv6, and says so when the kernel refuses them', async () => {
    const fake = new FakeNft();
    const d = deps(fake);
    await nftablesMode.checkHost({ ...d, options: familyOptionsView(d.options, 'IPv6') });
    assert.match(fake.transactions.at(-1)!.script, /^add table ip6 kproxy-probe/);
    assert.equal(fake.transactions.at(-1)!.check, true);
    const noIpv6 = new FakeNft({ unsupportedFamilies: ['ip6'] });
    const d6 = deps(noIpv6);
    await nftablesMode.checkHost({ ...d6, options: familyOptionsView(d6.options, 'IPv4') });
    await assert.rejects(
      nftablesMode.checkHost({ ...d6, options: familyOptionsView(d6.options, 'IPv6') }),
      (e: unknown) =>
        e instanceof NftUnavailableError &&
        /needs for IPv6 \(an ip6 table\): Could not process rule: Address family not supported/.test(
          e.message,
        ),
    );
  });

  it('serves both families where the host can, IPv4 alone where the kernel refuses ip6 tables', async () => {
    const log = pino({ level: 'silent' });
    const both = await availableFamilies(nftablesMode, deps(new FakeNft()), async () => undefined, log);
    assert.deepEqual(both.families, ['IPv4', 'IPv6']);
    const noIpv6 = new FakeNft({ unsupportedFamilies: ['ip6'] });
    const one = await availableFamilies(nftablesMode, deps(noIpv6), async () => undefined, log);
    assert.deepEqual(one.families, ['IPv4']);
    assert.match(one.unavailable.get('IPv6')!, /ip6 table/);
  });

  it('plans IPv4 alone when the options name no family (as before dual-stack)', () => {
    const s = SCENARIOS[0]!;
    assert.equal(planNftables(s.state, planOptions()).family, 'ip');
    assert.equal(planNftables(s.state, { ...planOptions(), ipFamily: 'IPv6' }).family, 'ip6');
  });
});
