/**
 * Planning behaviour that golden files do not show well: large-cluster mode, IPv6 inputs, incremental
 * planning, and the per-service data the applier relies on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServicePortState, StateChange } from '../../model/types.ts';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import { type IptablesPlan, LARGE_CLUSTER_ENDPOINTS, planIptables } from './plan.ts';
import { tracePlan } from './trace.ts';

function chain(plan: IptablesPlan, table: 'nat' | 'filter', name: string): readonly string[] | undefined {
  return plan.tables.find((t) => t.table === table)?.chains.find((c) => c.name === name)?.rules;
}

function natChainNames(plan: IptablesPlan): string[] {
  return plan.tables.find((t) => t.table === 'nat')!.chains.map((c) => c.name);
}

/** Enough services of 10 endpoints to pass the large-cluster threshold. */
function bigState(extra: readonly ServicePortState[] = []) {
  const count = Math.ceil(LARGE_CLUSTER_ENDPOINTS / 10) + 1;
  const ports = Array.from({ length: count }, (_, i) =>
    servicePort({
      serviceName: `bulk${i}`,
      clusterIPs: [`172.31.${i >> 8}.${i & 255}`],
      endpoints: Array.from({ length: 10 }, (_, j) => `10.181.${i}.${j + 1}:80`),
    }),
  );
  return proxyState([...ports, ...extra]);
}

describe('large-cluster mode (over 1000 endpoints)', () => {
  const mixed = servicePort({
    endpoints: [{ address: '10.180.0.1:80', local: true }, '10.180.0.2:80', '10.180.0.3:80'],
  });
  const sticky = servicePort({
    serviceName: 'sticky',
    clusterIPs: ['172.30.0.42'],
    sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
    endpoints: ['10.180.0.4:80', '10.180.0.5:80'],
  });
  const plan = planIptables(bigState([mixed, sticky]), planOptions());

  it('is on, and drops per-endpoint comments but keeps the service ones', () => {
    assert.equal(plan.largeClusterMode, true);
    const svc = chain(plan, 'nat', 'KUBE-SVC-XPGD46QRK7WJZT7O')!;
    assert.match(svc[0]!, /cluster IP/, 'the masquerade rule keeps its comment');
    for (const r of svc.slice(1)) assert.doesNotMatch(r, /--comment/);
  });

  it('DNATs remote endpoints from the service chain and keeps a KUBE-SEP chain for local ones', () => {
    const svc = chain(plan, 'nat', 'KUBE-SVC-XPGD46QRK7WJZT7O')!;
    assert.match(svc[1]!, /-j KUBE-SEP-SXIVWICOYRO3J4NJ$/);
    assert.equal(
      svc[2],
      '-p tcp -m statistic --mode random --probability 0.5000000000 -j DNAT --to-destination 10.180.0.2:80',
    );
    assert.equal(svc[3], '-p tcp -j DNAT --to-destination 10.180.0.3:80');
    assert.deepEqual(chain(plan, 'nat', 'KUBE-SEP-SXIVWICOYRO3J4NJ'), [
      '-s 10.180.0.1/32 -j KUBE-MARK-MASQ',
      '-p tcp -j DNAT --to-destination 10.180.0.1:80',
    ]);
  });

  it('keeps KUBE-SEP chains for a service with session affinity', () => {
    const seps = natChainNames(plan).filter((n) => n.startsWith('KUBE-SEP-'));
    assert.equal(seps.length, 3, 'the local endpoint of svc1 and both of sticky');
  });

  it('traces the same as the upstream shape: every endpoint, equally likely', () => {
    const r = tracePlan(plan, planOptions(), {
      source: '10.0.0.2',
      destination: '172.30.0.41',
      port: 80,
      protocol: 'TCP',
    });
    assert.deepEqual(
      r.backends.map((b) => b.address),
      ['10.180.0.1:80', '10.180.0.2:80', '10.180.0.3:80'],
    );
    for (const b of r.backends) assert.ok(Math.abs(b.probability - 1 / 3) < 1e-6);
  });
});

describe('IPv4-only planning', () => {
  it('plans the IPv4 side of a dual-stack service and ignores IPv6 addresses', () => {
    const plan = planIptables(
      proxyState([
        servicePort({
          clusterIPs: ['fd00::41', '172.30.0.41'],
          ipFamilies: ['IPv6', 'IPv4'],
          externalIPs: ['2001:db8::1', '192.168.99.11'],
          loadBalancerSourceRanges: ['2001:db8::/64'],
          endpoints: ['10.180.0.1:80'],
        }),
      ]),
      planOptions({ clusterCIDRs: ['fd00:10::/64', '10.0.0.0/8'] }),
    );
    const services = chain(plan, 'nat', 'KUBE-SERVICES')!;
    assert.equal(services.length, 3, 'cluster IP, external IP, nodeports jump');
    assert.doesNotMatch(services.join('\n'), /fd00|2001/);
    assert.match(chain(plan, 'nat', 'KUBE-SVC-XPGD46QRK7WJZT7O')![0]!, /^! -s 10\.0\.0\.0\/8 /);
  });

  it('skips a service with only an IPv6 cluster IP', () => {
    const plan = planIptables(
      proxyState([
        servicePort({ clusterIPs: ['fd00::41'], ipFamilies: ['IPv6'], endpoints: ['fd00::1:80'] }),
      ]),
      planOptions(),
    );
    assert.equal(plan.servicePorts.size, 0);
  });

  it('warns that only the first IPv4 cluster CIDR is used', () => {
    const plan = planIptables(proxyState([]), planOptions({ clusterCIDRs: ['10.0.0.0/8', '100.64.0.0/10'] }));
    assert.match(plan.warnings.join('\n'), /Only the first IPv4 --cluster-cidr/);
  });
});

describe('IPv6 planning', () => {
  const dual = servicePort({
    clusterIPs: ['172.30.0.41', 'fd00:172:30::41'],
    ipFamilies: ['IPv4', 'IPv6'],
    externalIPs: ['192.168.99.11', 'fd00:192:168:99::11'],
    loadBalancerIPs: ['5.6.7.8', '2001:db8:5678::8'],
    loadBalancerSourceRanges: ['203.0.113.0/25', '2001:db8:113::/64'],
    type: 'LoadBalancer',
    nodePort: 30080,
    endpoints: ['10.180.0.1:80', '[fd00:10:180::1]:80'],
  });
  const options = planOptions({
    ipFamily: 'IPv6',
    nodeIPs: ['192.168.0.2', 'fd00:192:168::2'],
    clusterCIDRs: ['10.0.0.0/8', 'fd00:10::/32'],
  });

  it('never mixes families, even when handed a state that is not its family view', () => {
    // The proxier gets its family's view; the plan must hold up without it.
    const plan = planIptables(proxyState([dual]), options);
    const text = plan.tables.flatMap((t) => t.chains.flatMap((c) => c.rules)).join('\n');
    assert.equal(plan.ipFamily, 'IPv6');
    assert.doesNotMatch(text, /\d+\.\d+\.\d+\.\d+/);
    assert.match(text, /-d fd00:172:30::41\/128 /);
    assert.match(text, /-s 2001:db8:113::\/64 /);
    assert.match(text, /! -s fd00:10::\/32 /);
    assert.match(text, /DNAT --to-destination \[fd00:10:180::1\]:80$/m);
    assert.deepEqual(plan.servicePorts.get(dual.key)?.udp, undefined);
  });

  it('names the UDP conntrack targets of the family', () => {
    const udp = servicePort({
      ...dual,
      protocol: 'UDP',
      endpoints: ['10.180.0.1:53', '[fd00:10:180::1]:53'],
    });
    const plan = planIptables(proxyState([udp]), options);
    assert.deepEqual(plan.servicePorts.get(udp.key)?.udp, {
      serviceIPs: ['fd00:172:30::41', 'fd00:192:168:99::11', '2001:db8:5678::8'],
      nodePort: 30080,
      endpointIPs: ['fd00:10:180::1'],
    });
  });

  it('does not reuse a plan of the other family', () => {
    const v4 = planIptables(proxyState([dual]), planOptions());
    const v6 = planIptables(proxyState([dual]), options, {
      previous: v4,
      change: change([]),
    });
    assert.match(chain(v6, 'nat', 'KUBE-SERVICES')![0]!, /fd00:172:30::41/);
  });
});

describe('incremental planning', () => {
  const a = servicePort({ serviceName: 'a', clusterIPs: ['172.30.0.1'], endpoints: ['10.180.0.1:80'] });
  const b = servicePort({ serviceName: 'b', clusterIPs: ['172.30.0.2'], endpoints: ['10.180.0.2:80'] });
  const b2 = servicePort({ serviceName: 'b', clusterIPs: ['172.30.0.2'], endpoints: ['10.180.0.3:80'] });
  const change: StateChange = {
    changed: new Set([b.key]),
    removed: new Set(),
    firstSeen: new Map(),
    serviceEvents: 0,
    endpointEvents: 1,
  };

  it('reuses the rules of unchanged service ports and equals a fresh plan', () => {
    const previous = planIptables(proxyState([a, b]), planOptions());
    const next = planIptables(proxyState([a, b2]), planOptions(), { previous, change });
    assert.equal(next.servicePorts.get(a.key), previous.servicePorts.get(a.key), 'same object');
    assert.notEqual(next.servicePorts.get(b.key), previous.servicePorts.get(b.key));
    assert.deepEqual(next.tables, planIptables(proxyState([a, b2]), planOptions()).tables);
  });

  it('re-plans everything when large-cluster mode flips', () => {
    const previous = planIptables(proxyState([a, b]), planOptions());
    const big = bigState([a, b2]);
    const next = planIptables(big, planOptions(), { previous, change });
    assert.notEqual(next.servicePorts.get(a.key), previous.servicePorts.get(a.key));
  });
});

describe('UDP conntrack targets', () => {
  it('list the service IPs, the node port and the reachable endpoint IPs', () => {
    const plan = planIptables(
      proxyState([
        servicePort({
          protocol: 'UDP',
          type: 'LoadBalancer',
          nodePort: 30053,
          externalIPs: ['192.168.99.11'],
          loadBalancerIPs: ['1.2.3.4'],
          endpoints: ['10.180.0.2:53', '10.180.0.1:53', { address: '10.180.0.3:53', ready: false }],
        }),
      ]),
      planOptions(),
    );
    assert.deepEqual([...plan.servicePorts.values()][0]!.udp, {
      serviceIPs: ['172.30.0.41', '192.168.99.11', '1.2.3.4'],
      nodePort: 30053,
      endpointIPs: ['10.180.0.1', '10.180.0.2'],
    });
  });
});
