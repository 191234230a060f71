/**
 * The ipvs mode's cluster-IP masquerade rule follows `--detect-local-mode` (upstream's ipvs proxier writes
 * `IfNotLocal()` there), and its trace decides with the packet's input interface.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LocalDetector } from '../../contracts/plan_options.ts';
import { planOptions } from '../../model/testing/fixtures.ts';
import { UNDECIDED_INTERFACE_NOTE } from '../../trace/local_detection_note.ts';
import { planIpvs } from './plan.ts';
import { endpoints, service, stateOf } from './testing/fixtures.ts';
import { traceIpvs } from './trace.ts';

const web = service('web');
const state = stateOf([[web, endpoints(web, ['198.19.1.1', '198.19.1.2'])]]);

function masqueradeRules(localDetector: LocalDetector | undefined): string[] {
  const plan = planIpvs(state, planOptions({ clusterCIDRs: ['198.19.0.0/16'], localDetector }));
  const nat = plan.families[0]?.tables.find((t) => t.table === 'nat');
  const services = nat?.chains.find((c) => c.name === 'KUBE-SERVICES');
  return (services?.rules ?? []).filter((r) => r.includes('KUBE-CLUSTER-IP') && r.includes('KUBE-MARK-MASQ'));
}

describe('ipvs: --detect-local-mode', () => {
  it('renders ! -s CIDR, ! -i BRIDGE, ! -i PREFIX+', () => {
    assert.match(masqueradeRules(undefined)[0] ?? '', / ! -s 198\.19\.0\.0\/16 -j KUBE-MARK-MASQ$/);
    const node = masqueradeRules({ mode: 'NodeCIDR', cidrs: ['198.19.3.0/24'] });
    assert.match(node[0] ?? '', / ! -s 198\.19\.3\.0\/24 -j KUBE-MARK-MASQ$/);
    const bridge = masqueradeRules({ mode: 'BridgeInterface', name: 'cbr0' });
    assert.match(bridge[0] ?? '', / ! -i cbr0 -j KUBE-MARK-MASQ$/);
    const prefix = masqueradeRules({ mode: 'InterfaceNamePrefix', prefix: 'veth' });
    assert.match(prefix[0] ?? '', / ! -i veth\+ -j KUBE-MARK-MASQ$/);
  });
  it('without a detector (NodeCIDR before the Node arrives) masquerades only VIP-sourced traffic', () => {
    const rules = masqueradeRules({ mode: 'NodeCIDR', cidrs: [] });
    assert.equal(rules.length, 1);
    assert.match(rules[0] ?? '', /src,dst -j KUBE-MARK-MASQ$/);
  });
  it('refuses a hostile bridge name', () => {
    assert.throws(
      () => planIpvs(state, planOptions({ localDetector: { mode: 'BridgeInterface', name: 'a -j ACCEPT' } })),
      /Invalid pod bridge interface/,
    );
  });
  it('traces with the input interface, and says when it has none', () => {
    const options = planOptions({ localDetector: { mode: 'BridgeInterface', name: 'cbr0' } });
    const plan = planIpvs(state, options);
    const packet = { source: '198.19.1.9', destination: '198.18.0.10', port: 80, protocol: 'TCP' } as const;
    const fromPod = traceIpvs(plan, options, { ...packet, inInterface: 'cbr0' });
    assert.equal(fromPod.masquerade, false, fromPod.path.join('\n'));
    const fromOutside = traceIpvs(plan, options, { ...packet, inInterface: 'eth0' });
    assert.equal(fromOutside.masquerade, true, fromOutside.path.join('\n'));
    const unknown = traceIpvs(plan, options, packet);
    assert.equal(unknown.masquerade, true);
    assert.ok(unknown.path.includes(UNDECIDED_INTERFACE_NOTE), unknown.path.join('\n'));
  });
});
