/**
 * The iptables mode with both IP families, against the strict fakes: IPv6 packets traced through the IPv6
 * plan (backends `[addr]:port`, ICMPv6 rejects, hairpin masquerade, source ranges, node ports on the
 * node's IPv6 address), one Proxier per family writing only its family's Services into its own tool
 * (iptables or ip6tables), IPv6 UDP conntrack cleanup, and cleanup of both families.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { planOptionsForFamily } from '../../contracts/plan_options.ts';
import type { Exec } from '../../kernel/exec.ts';
import { FakeConntrack } from '../../kernel/testing/conntrack_fake.ts';
import { FakeIptables } from '../../kernel/testing/iptables_fake.ts';
import type { IPFamily, ProxyState } from '../../model/types.ts';
import { familyView } from '../../tracker/family_view.ts';
import {
  BLOCKED_CLIENT6,
  DUAL_STACK_SCENARIOS,
  dualStackPlanOptions,
  EXTERNAL_CLIENT6,
  NODE_IP6,
  POD_CLIENT6,
} from '../common/testing/dual_stack_scenarios.ts';
import { change, proxyState, servicePort } from '../common/testing/fixtures.ts';
import { DualStackProxier, traceFamily } from '../dual_stack.ts';
import type { ProxierDeps } from '../mode.ts';
import { removeIptablesModeChains } from './cleanup.ts';
import { iptablesMode } from './index.ts';
import { planIptables } from './plan.ts';
import { IptablesProxier } from './proxier.ts';

const scenario = (name: string) => DUAL_STACK_SCENARIOS.find((s) => s.name === name)!;
const dualMode = { ...iptablesMode, ipFamilies: ['IPv4', 'IPv6'] as const };

function trace(name: string, source: string, destination: string, port = 80, protocol = 'TCP' as const) {
  const s = scenario(name);
  return traceFamily(dualMode, s.state, s.options, { source, destination, port, protocol });
}

describe('iptables trace of IPv6 packets', () => {
  it('DNATs a cluster IP to the IPv6 endpoints, printed [addr]:port, with their probabilities', () => {
    const r = trace('dual-stack', POD_CLIENT6, 'fd00:172:30::41');
    assert.equal(r.verdict, 'DNAT');
    assert.deepEqual(r.backends, [
      { address: '[fd00:10:180::1]:80', probability: 0.5 },
      { address: '[fd00:10:180::2]:80', probability: 0.5 },
    ]);
    assert.equal(r.masquerade, false);
  });

  it('takes each family through its own plan: the IPv4 VIP of the same Service reaches IPv4 endpoints', () => {
    const r = trace('dual-stack', '10.0.0.2', '172.30.0.41');
    assert.deepEqual(
      r.backends.map((b) => b.address),
      ['10.180.0.1:80', '10.180.0.2:80'],
    );
  });

  it('has nothing for the IPv6 address an IPv4-only Service does not have', () => {
    const r = trace('dual-stack', POD_CLIENT6, 'fd00:172:30::42');
    assert.equal(r.verdict, 'NONE');
    assert.deepEqual(r.backends, []);
  });

  it('rejects an IPv6 Service without endpoints with ICMPv6 port unreachable', () => {
    const r = trace('ipv6-no-endpoints', POD_CLIENT6, 'fd00:172:30::41');
    assert.equal(r.verdict, 'REJECT');
    assert.ok(
      r.path.some((p) => p.includes('--reject-with icmp6-port-unreachable')),
      r.path.join('\n'),
    );
  });

  it('answers a NodePort on the node IPv6 address, masqueraded', () => {
    const r = trace('dual-stack', EXTERNAL_CLIENT6, NODE_IP6, 30080);
    assert.equal(r.verdict, 'DNAT');
    assert.equal(r.masquerade, true);
    assert.deepEqual(
      r.backends.map((b) => b.address),
      ['[fd00:10:180::1]:80', '[fd00:10:180::2]:80'],
    );
  });

  it('masquerades hairpin traffic: an IPv6 endpoint reaching its own Service', () => {
    const r = trace('ipv6-cluster-ip', 'fd00:10:180::1', 'fd00:172:30::41');
    const self = r.path.join('\n');
    assert.equal(r.verdict, 'DNAT');
    // The branch that lands on the client itself goes through its KUBE-SEP's -s .../128 KUBE-MARK-MASQ.
    assert.match(self, /-s fd00:10:180::1\/128 .*-j KUBE-MARK-MASQ/);
    assert.equal(r.masquerade, true);
  });

  it('applies loadBalancerSourceRanges of the family to IPv6 clients', () => {
    const allowed = trace('ipv6-load-balancer-local', EXTERNAL_CLIENT6, '2001:db8:5678::8');
    assert.equal(allowed.verdict, 'DNAT');
    assert.deepEqual(
      allowed.backends.map((b) => b.address),
      ['[fd00:10:180::1]:80'],
    );
    const blocked = trace('ipv6-load-balancer-local', BLOCKED_CLIENT6, '2001:db8:5678::8');
    assert.equal(blocked.verdict, 'DROP');
  });

  it('refuses a packet whose source and destination are of different families', () => {
    const s = scenario('dual-stack');
    assert.throws(
      () =>
        traceFamily(dualMode, s.state, s.options, {
          source: '10.0.0.2',
          destination: 'fd00:172:30::41',
          port: 80,
          protocol: 'TCP',
        }),
      /different IP families/,
    );
  });
});

const noExec: Exec = async () => {
  throw new Error('No exec in fake tests');
};

interface Host {
  readonly ipt: Record<IPFamily, FakeIptables>;
  readonly ct: Record<IPFamily, FakeConntrack>;
  readonly proxier: DualStackProxier;
}

function dualStackHost(): Host {
  const ipt = { IPv4: new FakeIptables(), IPv6: new FakeIptables('legacy', { family: 'IPv6' }) };
  const ct = { IPv4: new FakeConntrack(), IPv6: new FakeConntrack() };
  const deps: ProxierDeps = {
    options: dualStackPlanOptions(),
    exec: noExec,
    logger: pino({ level: 'silent' }),
    iptablesBackend: 'legacy',
  };
  const mode = {
    createProxier: (d: ProxierDeps) => {
      const family = d.options.ipFamily ?? 'IPv4';
      return new IptablesProxier(d, { iptables: ipt[family], conntrack: ct[family] });
    },
  };
  return { ipt, ct, proxier: new DualStackProxier(mode, deps, ['IPv4', 'IPv6']) };
}

function rulesText(ipt: FakeIptables): string {
  return [...ipt.state.values()].flatMap((t) => [...t.values()].flatMap((c) => c.rules)).join('\n');
}

describe('iptables Proxiers of both families', () => {
  it('program each Service in the families it has, each family through its own tool', async () => {
    const host = dualStackHost();
    await host.proxier.sync(scenario('dual-stack').state, change([]));
    const v4 = rulesText(host.ipt.IPv4);
    const v6 = rulesText(host.ipt.IPv6);
    assert.match(v4, /-d 172\.30\.0\.41\/32 /);
    assert.match(v4, /-d 172\.30\.0\.42\/32 /);
    assert.doesNotMatch(v4, /svc-v6|fd00:/);
    assert.match(v6, /-d fd00:172:30::41\/128 /);
    assert.match(v6, /-d fd00:172:30::43\/128 /);
    assert.doesNotMatch(v6, /svc-v4|172\.30\.|10\.180\./);
    // Each family keeps its own canary.
    assert.ok(host.ipt.IPv4.chain('mangle', 'KUBE-PROXY-CANARY'));
    assert.ok(host.ipt.IPv6.chain('mangle', 'KUBE-PROXY-CANARY'));
    // Exactly what the IPv6 plan says.
    const s = scenario('dual-stack');
    const plan = planIptables(familyView(s.state, 'IPv6'), planOptionsForFamily(s.options, 'IPv6'));
    const nat = plan.tables.find((t) => t.table === 'nat')!;
    for (const c of nat.chains) assert.deepEqual(host.ipt.IPv6.chain('nat', c.name), c.rules, c.name);
  });

  it('syncs partially per family: an IPv6 endpoint change touches ip6tables only', async () => {
    const host = dualStackHost();
    const before = scenario('dual-stack').state;
    await host.proxier.sync(before, change([]));
    const v4Restores = host.ipt.IPv4.restores.length;
    const changed = servicePort({
      serviceName: 'svc-v6',
      clusterIPs: ['fd00:172:30::43'],
      ipFamilies: ['IPv6'],
      endpoints: ['[fd00:10:180::3]:80', '[fd00:10:180::4]:80'],
    });
    const after: ProxyState = proxyState([
      ...[...before.servicePorts.values()].filter((p) => p.key !== changed.key),
      changed,
    ]);
    const report = await host.proxier.sync(after, change([changed.key]));
    assert.equal(report.kind, 'partial');
    assert.equal(host.ipt.IPv4.restores.length, v4Restores);
    assert.match(rulesText(host.ipt.IPv6), /DNAT --to-destination \[fd00:10:180::4\]:80/);
  });

  it('deletes stale IPv6 UDP conntrack entries through the IPv6 seam only', async () => {
    const host = dualStackHost();
    const dns = (endpoints: string[]) =>
      servicePort({
        namespace: 'kube-system',
        serviceName: 'kube-dns',
        portName: 'dns',
        protocol: 'UDP',
        port: 53,
        clusterIPs: ['172.30.0.10', 'fd00:172:30::10'],
        ipFamilies: ['IPv4', 'IPv6'],
        endpoints,
      });
    const first = dns(['10.180.0.5:53', '[fd00:10:180::5]:53', '[fd00:10:180::6]:53']);
    await host.proxier.sync(proxyState([first]), change([]));
    const second = dns(['10.180.0.5:53', '[fd00:10:180::5]:53']);
    await host.proxier.sync(proxyState([second], 2), change([second.key]));
    assert.deepEqual(host.ct.IPv4.calls, []);
    assert.deepEqual(host.ct.IPv6.calls, ['service-nat fd00:172:30::10 fd00:10:180::6']);
  });

  it('cleanup removes the IPv6 chains as it does the IPv4 ones', async () => {
    const host = dualStackHost();
    await host.proxier.sync(scenario('dual-stack').state, change([]));
    await removeIptablesModeChains(host.ipt.IPv6);
    for (const table of ['nat', 'filter', 'mangle'] as const) {
      assert.deepEqual(
        host.ipt.IPv6.chains(table).filter((c) => c.startsWith('KUBE-')),
        [],
        table,
      );
    }
  });
});
