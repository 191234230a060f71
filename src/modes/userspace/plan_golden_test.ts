/**
 * Golden files of `kproxy rules --proxy-mode userspace` for the IP families: an IPv6 fixture as
 * `--ip-family IPv6` prints it, and a dual-stack fixture as printed for both families (`# IPv4` then
 * `# IPv6`). Regenerate with `KPROXY_UPDATE_GOLDEN=1 node --import tsx --test
 * src/modes/userspace/plan_golden_test.ts` and review the diff line by line before committing it.
 *
 * Addresses: IPv4 as plan_test.ts (VIPs 10.96.0.0/16, endpoints 10.1.0.0/16, node 192.168.0.10, external IP
 * 203.0.113.7); IPv6 VIPs fd00:96::/64, endpoints fd00:1::/64, node fd00:192::10, external IP 2001:db8::7.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { planOptionsForFamily } from '../../contracts/plan_options.ts';
import { applyRestore, type IptablesState } from '../../kernel/iptables_state.ts';
import { familyView } from '../../tracker/family_view.ts';
import { renderFamilies } from '../dual_stack.ts';
import { userspaceMode } from './index.ts';
import { planUserspace } from './plan.ts';
import { renderPortalRestore } from './render.ts';
import { planOptions, proxyState, servicePort } from './testing/fixtures.ts';

const update = process.env['KPROXY_UPDATE_GOLDEN'] === '1';

const dualStack = proxyState([
  servicePort({
    clusterIPs: ['10.96.0.10', 'fd00:96::10'],
    ipFamilies: ['IPv4', 'IPv6'],
    endpoints: ['10.1.0.1:8080', '10.1.0.2:8080', '[fd00:1::1]:8080', '[fd00:1::2]:8080'],
  }),
  servicePort({
    serviceName: 'shop',
    type: 'NodePort',
    nodePort: 30080,
    clusterIPs: ['10.96.0.20', 'fd00:96::20'],
    ipFamilies: ['IPv4', 'IPv6'],
    externalIPs: ['203.0.113.7', '2001:db8::7'],
    endpoints: ['10.1.0.4:80', '[fd00:1::4]:80'],
  }),
  servicePort({
    serviceName: 'dns',
    portName: 'dns',
    protocol: 'UDP',
    port: 53,
    clusterIPs: ['10.96.0.53'],
    endpoints: ['10.1.0.3:53'],
  }),
  servicePort({
    serviceName: 'dns6',
    portName: 'dns',
    protocol: 'UDP',
    port: 53,
    clusterIPs: ['fd00:96::53'],
    ipFamilies: ['IPv6'],
    endpoints: ['[fd00:1::3]:53'],
  }),
  servicePort({
    serviceName: 'sticky6',
    clusterIPs: ['fd00:96::30'],
    ipFamilies: ['IPv6'],
    sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
    endpoints: ['[fd00:1::5]:80', '[fd00:1::6]:80'],
  }),
  servicePort({ serviceName: 'empty6', clusterIPs: ['fd00:96::99'], ipFamilies: ['IPv6'], endpoints: [] }),
]);
const ipv6Only = proxyState(
  [...familyView(dualStack, 'IPv6').servicePorts.values()].map((sp) => ({ ...sp, ipFamilies: ['IPv6'] })),
);
const options = planOptions({
  nodeIPs: ['192.168.0.10', 'fd00:192::10'],
  proxyPortRange: { from: 40000, to: 40010 },
});

const SCENARIOS = [
  { name: 'dual-stack', text: () => renderFamilies(userspaceMode, dualStack, options) },
  {
    // Run-time proxy ports (placeholders) and node ports on --nodeport-addresses only.
    name: 'ipv6',
    text: () =>
      renderFamilies(
        userspaceMode,
        ipv6Only,
        { ...options, proxyPortRange: undefined, nodePortAddresses: ['192.168.0.0/24', 'fd00:192::/64'] },
        'IPv6',
      ),
  },
] as const;

describe('userspace golden files (IP families)', () => {
  for (const s of SCENARIOS) {
    it(s.name, () => {
      const text = s.text();
      const file = new URL(`./testdata/${s.name}.golden`, import.meta.url);
      if (update) writeFileSync(file, text);
      assert.equal(text, readFileSync(file, 'utf8'));
    });
  }

  it('the dual-stack IPv6 rules are accepted by the strict ip6tables-restore model, the IPv4 ones by iptables', () => {
    for (const family of ['IPv4', 'IPv6'] as const) {
      const plan = planUserspace(familyView(dualStack, family), planOptionsForFamily(options, family));
      const state: IptablesState = new Map();
      applyRestore(state, renderPortalRestore(plan), { noflush: true, family });
      assert.ok(state.get('nat')?.has('KUBE-PORTALS-CONTAINER'));
    }
  });

  it('the IPv6 plan refuses IPv4 addresses in its rules (strict model)', () => {
    const plan = planUserspace(familyView(dualStack, 'IPv4'), planOptionsForFamily(options, 'IPv4'));
    assert.throws(() =>
      applyRestore(new Map(), renderPortalRestore(plan), { noflush: true, family: 'IPv6' }),
    );
  });
});
