import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderRestore } from '../../kernel/iptables_restore.ts';
import { NODE_IP, planOptions } from '../../model/testing/fixtures.ts';
import { ipvsMode } from './index.ts';
import { allIpvsSetNames, ipsetName } from './ipsets.ts';
import { planIpvs } from './plan.ts';
import { IpvsSchedulerError } from './scheduler.ts';
import { endpoints, endpoints6, service, stateOf } from './testing/fixtures.ts';

const web = service('web');

describe('planIpvs', () => {
  it('plans one virtual server per VIP:port:protocol with the endpoints as weight-1 real servers', () => {
    const np = service('np', {
      type: 'LoadBalancer',
      clusterIPs: ['198.18.0.11'],
      externalIPs: ['198.18.0.201'],
      loadBalancerIPs: ['198.18.0.200'],
      ports: [{ name: 'p', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 30053 }],
    });
    const plan = planIpvs(
      stateOf([
        [web, endpoints(web, ['198.19.1.2', '198.19.1.1'])],
        [np, endpoints(np, ['198.19.1.3'], { port: 5353 })],
      ]),
      planOptions(),
    );
    assert.deepEqual(
      plan.virtualServers.map((v) => [
        v.key,
        v.role,
        v.bind,
        v.realServers.map((r) => `${r.address}:${r.port}/${r.weight}`),
      ]),
      [
        ['TCP/198.18.0.10:80', 'clusterIP', true, ['198.19.1.1:8080/1', '198.19.1.2:8080/1']],
        ['UDP/198.18.0.11:53', 'clusterIP', true, ['198.19.1.3:5353/1']],
        ['UDP/198.18.0.100:30053', 'nodePort', false, ['198.19.1.3:5353/1']],
        ['UDP/198.18.0.200:53', 'loadBalancer', true, ['198.19.1.3:5353/1']],
        ['UDP/198.18.0.201:53', 'externalIP', true, ['198.19.1.3:5353/1']],
      ],
    );
    assert.deepEqual(plan.bindAddresses, ['198.18.0.10', '198.18.0.11', '198.18.0.200', '198.18.0.201']);
    const sets = Object.fromEntries(
      plan.families[0]!.ipsets.filter((s) => s.entries.length > 0).map((s) => [s.name, s.entries]),
    );
    assert.deepEqual(sets, {
      'KUBE-CLUSTER-IP': ['198.18.0.10,tcp:80', '198.18.0.11,udp:53'],
      'KUBE-EXTERNAL-IP': ['198.18.0.201,udp:53'],
      'KUBE-LOAD-BALANCER': ['198.18.0.200,udp:53'],
      'KUBE-NODE-PORT-UDP': ['30053'],
      'KUBE-IPVS-IPS': ['198.18.0.10', '198.18.0.11', '198.18.0.200', '198.18.0.201'],
    });
  });

  it('uses --ipvs-scheduler, a valid annotation over it, and warns about an invalid one', () => {
    const plan = planIpvs(
      stateOf([
        [service('a', { clusterIPs: ['198.18.0.1'] })],
        [service('b', { clusterIPs: ['198.18.0.2'], annotations: { 'kproxy.io/ipvs-scheduler': 'mh' } })],
        [
          service('c', {
            clusterIPs: ['198.18.0.3'],
            annotations: { 'kproxy.io/ipvs-scheduler': 'fastest' },
          }),
        ],
      ]),
      planOptions({ ipvsScheduler: 'wlc' }),
    );
    assert.deepEqual(
      plan.virtualServers.map((v) => [v.address, v.scheduler, v.flags]),
      [
        ['198.18.0.1', 'wlc', []],
        ['198.18.0.2', 'mh', ['mh-port']],
        ['198.18.0.3', 'wlc', []],
      ],
    );
    assert.equal(plan.warnings.length, 1);
    assert.match(
      plan.warnings[0]!,
      /default\/c:p\/TCP: Ignored annotation kproxy\.io\/ipvs-scheduler="fastest"/,
    );
  });

  it('accepts every IPVS scheduler and refuses an unknown --ipvs-scheduler', () => {
    for (const scheduler of ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh']) {
      assert.equal(
        planIpvs(stateOf([[web]]), planOptions({ ipvsScheduler: scheduler })).virtualServers[0]?.scheduler,
        scheduler,
      );
    }
    assert.throws(
      () => planIpvs(stateOf([[web]]), planOptions({ ipvsScheduler: 'random' })),
      IpvsSchedulerError,
    );
  });

  it('does not bind an external IP that is a node address, and skips a VIP claimed twice', () => {
    const a = service('a', { externalIPs: [NODE_IP] });
    const b = service('b', { clusterIPs: ['198.18.0.10'] });
    const plan = planIpvs(stateOf([[a], [b]]), planOptions());
    assert.deepEqual(plan.bindAddresses, ['198.18.0.10']);
    assert.equal(plan.virtualServers.find((v) => v.address === NODE_IP)?.bind, false);
    assert.match(
      plan.warnings.join('\n'),
      /default\/b:p\/TCP: TCP\/198\.18\.0\.10:80 is already served by default\/a:p\/TCP/,
    );
  });

  it('lists local endpoints in KUBE-LOOP-BACK and LB source ranges in the firewall sets', () => {
    const lb = service('lb', {
      type: 'LoadBalancer',
      loadBalancerIPs: ['198.18.0.200'],
      loadBalancerSourceRanges: ['198.18.5.0/24', '198.18.0.100/32'],
    });
    const plan = planIpvs(
      stateOf([[lb, endpoints(lb, ['198.19.1.11'], { local: ['198.19.1.11'] })]]),
      planOptions(),
    );
    const sets = Object.fromEntries(plan.families[0]!.ipsets.map((s) => [s.name, s.entries]));
    assert.deepEqual(sets['KUBE-LOOP-BACK'], ['198.19.1.11,tcp:8080,198.19.1.11']);
    assert.deepEqual(sets['KUBE-LOAD-BALANCER-FW'], ['198.18.0.200,tcp:80']);
    assert.deepEqual(sets['KUBE-LOAD-BALANCER-SOURCE-CIDR'], [
      '198.18.0.200,tcp:80,198.18.0.100',
      '198.18.0.200,tcp:80,198.18.5.0/24',
    ]);
    assert.deepEqual(sets['KUBE-LOAD-BALANCER-SOURCE-IP'], ['198.18.0.200,tcp:80,198.18.0.200']);
  });

  it('plans one family: IPv6 virtual servers, KUBE-6- sets and ip6tables rules with options.ipFamily IPv6', () => {
    const dual = service('dual', { clusterIPs: ['198.18.0.10', 'fd00::10'], ipFamilies: ['IPv4', 'IPv6'] });
    const state = stateOf([[dual, endpoints(dual, ['198.19.1.1']), endpoints6(dual, ['fd00:1::1'])]]);
    const v6 = planIpvs(state, planOptions({ ipFamily: 'IPv6', nodeIPs: [NODE_IP, 'fd00::100'] }));
    assert.equal(v6.family, 'IPv6');
    assert.deepEqual(
      v6.virtualServers.map((v) => [v.key, v.realServers.map((r) => r.address)]),
      [['TCP/[fd00::10]:80', ['fd00:1::1']]],
    );
    assert.deepEqual(v6.bindAddresses, ['fd00::10']);
    assert.deepEqual(
      v6.families.map((f) => f.family),
      ['IPv6'],
    );
    assert.deepEqual(v6.families[0]!.ipsets.find((s) => s.name === 'KUBE-6-CLUSTER-IP')?.entries, [
      'fd00::10,tcp:80',
    ]);
    assert.match(renderRestore(v6.families[0]!.tables), /-A KUBE-SERVICES -s ::1\/128 -j RETURN/);
    // The IPv4 plan of the same state ignores every IPv6 address, even when the state is not a family view.
    const v4 = planIpvs(state, planOptions({ nodeIPs: [NODE_IP, 'fd00::100'] }));
    assert.equal(v4.family, 'IPv4');
    assert.deepEqual(
      v4.virtualServers.map((v) => [v.key, v.realServers.map((r) => r.address)]),
      [['TCP/198.18.0.10:80', ['198.19.1.1']]],
    );
    assert.deepEqual(
      v4.families.map((f) => f.family),
      ['IPv4'],
    );
  });

  it("names the IPv6 sets as upstream: KUBE-6-..., cut to ipset's 31 characters", () => {
    assert.equal(ipsetName('KUBE-CLUSTER-IP', 'IPv6'), 'KUBE-6-CLUSTER-IP');
    assert.equal(ipsetName('KUBE-LOAD-BALANCER-SOURCE-CIDR', 'IPv6'), 'KUBE-6-LOAD-BALANCER-SOURCE-CID');
    assert.equal(ipsetName('KUBE-NODE-PORT-LOCAL-SCTP-HASH', 'IPv6'), 'KUBE-6-NODE-PORT-LOCAL-SCTP-HAS');
    assert.equal(ipsetName('KUBE-LOAD-BALANCER-SOURCE-CIDR', 'IPv4'), 'KUBE-LOAD-BALANCER-SOURCE-CIDR');
    const names = allIpvsSetNames();
    assert.equal(new Set(names).size, names.length, 'no two sets share a name');
    for (const name of names) assert.ok(name.length <= 31, name);
  });

  it('plans no IPv6 sets or rules until a virtual server is IPv6, then keeps them emptied once served', () => {
    const state = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
    const v6 = planOptions({ ipFamily: 'IPv6' });
    const none = planIpvs(state, v6);
    assert.deepEqual(none.virtualServers, []);
    assert.deepEqual(none.families, []);
    const kept = planIpvs(state, v6, { servedFamilies: ['IPv4', 'IPv6'] });
    assert.deepEqual(
      kept.families.map((f) => f.family),
      ['IPv6'],
    );
    assert.deepEqual(
      kept.families[0]!.ipsets.filter((s) => s.entries.length > 0),
      [],
    );
    assert.ok(kept.families[0]!.ipsets.some((s) => s.name === 'KUBE-6-CLUSTER-IP'));
    assert.match(renderRestore(kept.families[0]!.tables), /-A KUBE-SERVICES -s ::1\/128 -j RETURN/);
    assert.deepEqual(kept.virtualServers, []);
    assert.equal(ipvsMode.renderRules(state, v6).includes('# ipsets'), false, 'rules show no emptied family');
    // IPv4's sets and rules are always planned, as before dual-stack.
    assert.deepEqual(
      planIpvs(stateOf([]), planOptions()).families.map((f) => f.family),
      ['IPv4'],
    );
  });

  it("renders the table, the sets and the rules in their tools' restore formats", () => {
    const text = ipvsMode.renderRules(
      stateOf([[web, endpoints(web, ['198.19.1.1'])]]),
      planOptions({ clusterCIDRs: ['198.19.0.0/16'] }),
    );
    assert.match(text, /^-A -t 198\.18\.0\.10:80 -s rr$/m);
    assert.match(text, /^-a -t 198\.18\.0\.10:80 -r 198\.19\.1\.1:8080 -m -w 1$/m);
    assert.match(text, /^create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536$/m);
    assert.match(text, /^add KUBE-CLUSTER-IP 198\.18\.0\.10,tcp:80$/m);
    assert.match(
      text,
      /^-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip \+ port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 198\.19\.0\.0\/16 -j KUBE-MARK-MASQ$/m,
    );
    assert.match(
      text,
      /^-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT$/m,
    );
    assert.match(text, /^-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000$/m);
  });
});
