/**
 * The ipvs mode dual-stack in a real IPVS kernel (the test guest, see src/lab/guest/): one boot runs
 * testing/guest_dual_stack_scenario.ts, where the daemon's DualStackProxier runs the ipvs mode's IPv4 and
 * IPv6 Proxiers side by side with real TCP traffic over both families; the specifications below read its
 * report. Needs scripts/guest-setup.sh (run automatically; root and apt on a fresh machine).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { runInGuest } from '../../lab/guest/run_in_guest.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [
    'qemu-system-x86_64',
    ...LAB_TOOLS,
    ...IPTABLES_TOOLS,
    'ip6tables-save',
    'ipvsadm',
    'ipset',
    'conntrack',
  ],
  guestKernel: true,
});

interface Report {
  families: string[];
  unavailable: Record<string, string>;
  virtualServers: string[];
  sticky6Listing: string;
  bound: string[];
  ip6tablesV4only: string[];
  sets6: string[];
  clusterIP6: string[];
  web4: string[];
  web6: string[];
  sticky6: string[];
  empty6: string[];
  unserved6: string[];
  nodePort6: string[];
  nodePort4: string[];
  v4only6: string[];
  hairpin6: string[];
  hairpin4: string[];
  udp: {
    first6: string;
    first4: string;
    entries6Before: string[];
    entries4Before: string[];
    entries6After: string[];
    entries4After: string[];
    second6: string;
    second4: string;
  };
  afterCleanup: { ipvs: string[]; dummy: number; sets: string; ip6tables: string[] };
}

const PODS = ['pod1', 'pod2', 'pod3'];

describe('ipvs mode dual-stack in a real IPVS kernel', { skip }, () => {
  let report: Report;
  before(async () => {
    const result = await runInGuest(
      ['node', '--import', 'tsx', 'src/modes/ipvs/testing/guest_dual_stack_scenario.ts'],
      { timeoutMs: 300_000 },
    );
    const line = /^KPT-REPORT (.*)$/m.exec(result.stdout);
    assert.ok(line !== null, `the scenario reported nothing (exit ${result.code}):\n${result.stderr}`);
    report = JSON.parse(line[1]!) as Report;
  });

  it('serves both families on this kernel (the IPv6 host check passes)', () => {
    assert.deepEqual(report.families, ['IPv4', 'IPv6']);
    assert.deepEqual(report.unavailable, {});
  });

  it('answers a dual-stack Service on both VIPs, rr over the three pods in each family', () => {
    for (const names of [report.web4, report.web6]) {
      assert.deepEqual([...new Set(names)].sort(), PODS, names.join(','));
      assert.deepEqual(names.slice(3), names.slice(0, 3), 'rr: the same order again');
    }
  });

  it('keeps a client on one backend for an IPv6-only ClientIP Service (a persistent virtual server)', () => {
    assert.equal(new Set(report.sticky6).size, 1, report.sticky6.join(','));
    assert.match(report.sticky6[0]!, /^pod[123]$/);
    assert.match(report.sticky6Listing, /^TCP\s+\[2001:2:0:f::11\]:80 rr persistent 60/);
  });

  it('rejects at once an IPv6 Service without endpoints, and an IPv6 VIP port no Service serves', () => {
    assert.deepEqual(report.empty6, ['REFUSED'], 'ICMPv6 port unreachable from IPVS, not a timeout');
    assert.deepEqual(report.unserved6, ['REFUSED'], 'KUBE-IPVS-FILTER REJECT in ip6tables');
  });

  it("answers a NodePort on the node's IPv6 address (and on its IPv4 one)", () => {
    assert.deepEqual([...new Set(report.nodePort6)].sort(), ['pod1', 'pod2'], report.nodePort6.join(','));
    assert.deepEqual([...new Set(report.nodePort4)].sort(), ['pod1', 'pod2'], report.nodePort4.join(','));
  });

  it('masquerades IPv6 hairpin traffic (a pod reaching itself through its VIP), as IPv4', () => {
    assert.deepEqual(report.hairpin6, ['pod1', 'pod1', 'pod1']);
    assert.deepEqual(report.hairpin4, ['pod1', 'pod1', 'pod1']);
  });

  it('programs nothing IPv6 for an IPv4-only Service', () => {
    assert.ok(report.virtualServers.includes('198.18.0.20:80'));
    assert.ok(!report.virtualServers.some((vs) => vs.startsWith('[2001:2:0:f::20]')));
    assert.ok(!report.bound.includes('2001:2:0:f::20'));
    assert.deepEqual(report.ip6tablesV4only, []);
    assert.ok(!report.clusterIP6.some((e) => e.startsWith('2001:2:0:f::20,')));
    assert.doesNotMatch(report.v4only6[0] ?? '', /^pod/);
  });

  it("keeps each family's virtual servers, addresses and KUBE-6- sets through a full sync of both", () => {
    for (const vs of ['198.18.0.10:80', '[2001:2:0:f::10]:80', '[2001:2:0:c0::1]:30080', '198.18.5.1:30080'])
      assert.ok(report.virtualServers.includes(vs), vs);
    for (const address of ['198.18.0.10', '2001:2:0:f::10', '2001:2:0:f::12'])
      assert.ok(report.bound.includes(address), address);
    assert.ok(report.sets6.includes('KUBE-6-LOAD-BALANCER-SOURCE-CID'), 'the IPv6 names ipset accepts');
    assert.equal(report.sets6.length, 17);
  });

  it("deletes each family's stale UDP conntrack entries when the endpoint that served them goes", () => {
    const { udp } = report;
    assert.match(udp.first6, /^pod[12]$/);
    assert.match(udp.first4, /^pod[12]$/);
    const ip6 = `2001:2:0:1::${udp.first6.slice(3)}`;
    const ip4 = `198.19.1.${udp.first4.slice(3)}`;
    assert.ok(
      udp.entries6Before.some((e) => e.includes(`src=${ip6} `)),
      `an IPv6 entry to ${ip6}: ${udp.entries6Before.join('; ')}`,
    );
    assert.ok(
      udp.entries4Before.some((e) => e.includes(`src=${ip4} `)),
      udp.entries4Before.join('; '),
    );
    assert.deepEqual(udp.entries6After, [], 'conntrack -D ... -f ipv6 removed it');
    assert.deepEqual(udp.entries4After, []);
    assert.match(udp.second6, /^pod[12]$/);
    assert.notEqual(udp.second6, udp.first6, 'the same client port now reaches the other endpoint');
    assert.notEqual(udp.second4, udp.first4);
  });

  it('cleanup leaves no virtual server, set, ip6tables rule or interface of either family', () => {
    assert.deepEqual(report.afterCleanup.ipvs, []);
    assert.notEqual(report.afterCleanup.dummy, 0, 'kube-ipvs0 is gone');
    assert.equal(report.afterCleanup.sets, '');
    assert.deepEqual(report.afterCleanup.ip6tables, []);
  });
});
