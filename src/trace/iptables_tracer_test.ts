/**
 * The tracer against static rules (as upstream's TestTracePacket), independent of any planner: marks,
 * RETURN and goto, probabilities, recent, conntrack state, ipsets through a callback, save output, and
 * IPv6 packets through ip6tables-save output.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIptablesSave } from '../kernel/iptables_state.ts';
import { rulesetFromState, traceIptables } from './iptables_tracer.ts';

const NODE = '192.168.0.2';

const SAVE = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
:KUBE-SEP-3 - [0:0]
:KUBE-GOTO - [0:0]
:KUBE-IPVS - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SERVICES -d 172.30.0.50/32 -p tcp -m tcp --dport 80 -g KUBE-GOTO
-A KUBE-SERVICES -d 172.30.0.50/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.180.0.9:80
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-IPVS
-A KUBE-GOTO -j RETURN
-A KUBE-IPVS ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-A -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-1 --mask 255.255.255.255 --rsource -j KUBE-SEP-1
-A KUBE-SVC-A -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-1
-A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2
-A KUBE-SVC-A -j KUBE-SEP-3
-A KUBE-SEP-1 -s 10.180.0.1/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-1 -p tcp -m recent --set --name KUBE-SEP-1 --mask 255.255.255.255 --rsource -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-2 -s 10.180.0.2/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-2 -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-3 -s 10.180.0.3/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-3 -p tcp -j DNAT --to-destination 10.180.0.3:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
-A FORWARD -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -d 172.30.0.99/32 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-FORWARD -m conntrack ! --ctstate DNAT -d 10.180.0.0/16 -j DROP
COMMIT
`;

const ruleset = rulesetFromState(parseIptablesSave(SAVE));
const env = { localAddresses: [NODE] };

describe('traceIptables on iptables-save output', () => {
  it('walks every random branch and reports each backend with its probability', () => {
    const r = traceIptables(
      ruleset,
      { source: '10.0.0.2', destination: '172.30.0.41', port: 80, protocol: 'TCP' },
      env,
    );
    assert.equal(r.verdict, 'DNAT');
    assert.deepEqual(
      r.backends.map((b) => b.address),
      ['10.180.0.1:80', '10.180.0.2:80', '10.180.0.3:80'],
    );
    for (const b of r.backends) assert.ok(Math.abs(b.probability - 1 / 3) < 1e-6);
    assert.equal(r.masquerade, false);
  });

  it('masquerades through the real mark and KUBE-POSTROUTING rules (hairpin)', () => {
    const r = traceIptables(
      ruleset,
      { source: '10.180.0.2', destination: '172.30.0.41', port: 80, protocol: 'TCP' },
      env,
    );
    assert.equal(r.masquerade, true);
    assert.ok(r.path.some((l) => l.includes('MASQUERADE')));
  });

  it('returns from a goto target to the caller of the chain that jumped', () => {
    const r = traceIptables(
      ruleset,
      { source: '10.0.0.2', destination: '172.30.0.50', port: 80, protocol: 'TCP' },
      env,
    );
    assert.equal(r.verdict, 'NONE', r.path.join('\n'));
  });

  it('uses the set callback for -m set, and no set matches without one', () => {
    const packet = { source: '203.0.113.2', destination: '172.30.0.60', port: 80, protocol: 'TCP' as const };
    assert.equal(traceIptables(ruleset, packet, env).masquerade, false);
    const withSet = traceIptables(ruleset, packet, {
      ...env,
      matchSet: (name, flags, p) =>
        name === 'KUBE-CLUSTER-IP' && flags.join() === 'dst,dst' && p.destination === '172.30.0.60',
    });
    assert.equal(withSet.masquerade, true);
  });

  it('evaluates conntrack states: NEW always, DNAT after a DNAT', () => {
    const rejected = traceIptables(
      ruleset,
      { source: '10.0.0.2', destination: '172.30.0.99', port: 80, protocol: 'TCP' },
      env,
    );
    assert.equal(rejected.verdict, 'REJECT');
    const direct = traceIptables(
      ruleset,
      { source: '10.0.0.2', destination: '10.180.0.1', port: 80, protocol: 'TCP' },
      env,
    );
    assert.equal(
      direct.verdict,
      'DROP',
      'a packet straight to a pod, not DNATed, hits the ! --ctstate DNAT rule',
    );
  });

  it('refuses a packet of two families politely', () => {
    const r = traceIptables(
      ruleset,
      { source: '10.0.0.2', destination: '2001:2::2', port: 80, protocol: 'TCP' },
      env,
    );
    assert.equal(r.verdict, 'NONE');
    assert.match(r.path[0]!, /Not a packet of one IP family/);
  });
});

const SAVE6 = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A OUTPUT -j KUBE-SERVICES
-A POSTROUTING -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-SERVICES -d fd00:172:30::41/128 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SERVICES ! -d ::1/128 -m addrtype --dst-type LOCAL -j KUBE-SVC-A
-A KUBE-SVC-A ! -s fd00:10::/32 -d fd00:172:30::41/128 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-A -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-1 --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource -j KUBE-SEP-1
-A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1
-A KUBE-SVC-A -j KUBE-SEP-2
-A KUBE-SEP-1 -s fd00:10:180::1/128 -j KUBE-MARK-MASQ
-A KUBE-SEP-1 -p tcp -j DNAT --to-destination [fd00:10:180::1]:8080
-A KUBE-SEP-2 -s fd00:10:180::2/128 -j KUBE-MARK-MASQ
-A KUBE-SEP-2 -p tcp -j DNAT --to-destination [fd00:10:180::2]:8080
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -s 2001:db8::/64 -d fd00:10:180::2/128 -p tcp -m tcp --dport 8080 -j REJECT --reject-with icmp6-port-unreachable
COMMIT
`;

describe('traceIptables on ip6tables-save output', () => {
  const ruleset6 = rulesetFromState(parseIptablesSave(SAVE6));
  const env6 = { localAddresses: [NODE, 'fd00:192:168::2'] };
  const packet = (source: string, destination: string) =>
    traceIptables(ruleset6, { source, destination, port: 80, protocol: 'TCP' }, env6);

  it('walks an IPv6 packet, backends printed [addr]:port, IPv6 prefixes matched', () => {
    const r = packet('fd00:10::5', 'fd00:172:30::41');
    assert.deepEqual(r.backends, [
      { address: '[fd00:10:180::1]:8080', probability: 0.5 },
      { address: '[fd00:10:180::2]:8080', probability: 0.5 },
    ]);
    assert.equal(r.verdict, 'DNAT');
    assert.equal(r.masquerade, false, 'a pod source (fd00:10::/32) is not masqueraded');
  });

  it('masquerades what comes from outside the cluster CIDR, and filters after the DNAT', () => {
    const r = packet('2001:db8::9', 'fd00:172:30::41');
    assert.equal(r.masquerade, true);
    assert.ok(r.path.some((l) => l.includes('REJECT --reject-with icmp6-port-unreachable')));
  });

  it('knows the node IPv6 addresses and ::1 as local, never an IPv4 one', () => {
    assert.equal(packet('2001:db8::9', 'fd00:192:168::2').verdict, 'DNAT');
    assert.equal(packet('::1', '::1').verdict, 'NONE', '::1 is excluded by ! -d ::1/128');
    assert.equal(packet('2001:db8::9', 'fd00:192:168::9').verdict, 'NONE');
  });
});
