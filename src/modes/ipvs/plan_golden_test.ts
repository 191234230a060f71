/**
 * Golden files of `kproxy rules --proxy-mode ipvs`: an IPv4 plan and a dual-stack one (`# IPv4` then
 * `# IPv6`, as the command prints them) of testing/fixtures.ts's dualStackFixture. Regenerate with
 * `KPROXY_UPDATE_GOLDEN=1 node --import tsx --test src/modes/ipvs/plan_golden_test.ts` and review the diff
 * line by line before committing it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { planOptionsForFamily } from '../../contracts/plan_options.ts';
import { parseIpsetSave } from '../../kernel/ipset.ts';
import { applyRestore, type IptablesState } from '../../kernel/iptables_state.ts';
import { familyView } from '../../tracker/family_view.ts';
import { renderFamilies } from '../dual_stack.ts';
import { ipvsMode } from './index.ts';
import { planIpvs } from './plan.ts';
import { dualStackFixture } from './testing/fixtures.ts';

const update = process.env['KPROXY_UPDATE_GOLDEN'] === '1';
const { state, options } = dualStackFixture();

function golden(name: string, text: string): void {
  const file = new URL(`./testdata/${name}.golden`, import.meta.url);
  if (update) writeFileSync(file, text);
  assert.equal(text, readFileSync(file, 'utf8'));
}

describe('ipvs plan golden files', () => {
  it('ipv4: the IPv4 family alone (what `kproxy rules --ip-family IPv4` prints)', () => {
    golden('ipv4', renderFamilies(ipvsMode, state, options, 'IPv4'));
  });

  it('dual-stack: both families, IPv4 first', () => {
    golden('dual-stack', renderFamilies(ipvsMode, state, options));
  });
});

describe('the IPv6 plan', () => {
  const plan = planIpvs(familyView(state, 'IPv6'), planOptionsForFamily(options, 'IPv6'));

  it('has only IPv6 addresses: virtual servers, real servers, kube-ipvs0 addresses, set entries', () => {
    for (const vs of plan.virtualServers) {
      assert.ok(vs.address.includes(':'), vs.key);
      for (const rs of vs.realServers) assert.ok(rs.address.includes(':'), `${vs.key} -> ${rs.address}`);
    }
    for (const address of plan.bindAddresses) assert.ok(address.includes(':'), address);
    for (const set of plan.families.flatMap((f) => f.ipsets)) {
      assert.equal(set.family, 'inet6', set.name);
      assert.match(set.name, /^KUBE-6-/);
      assert.ok(set.name.length <= 31, set.name);
      for (const entry of set.entries) assert.doesNotMatch(entry, /\b198\.1[89]\./, `${set.name} ${entry}`);
    }
  });

  it('plans nothing for a Service without an IPv6 cluster IP', () => {
    assert.ok(!plan.virtualServers.some((vs) => vs.servicePort.includes('v4only')));
  });

  it('is accepted by the strict ip6tables-restore model, and its sets by the ipset parser', () => {
    const rules: IptablesState = new Map();
    const text = ipvsMode.renderRules(familyView(state, 'IPv6'), planOptionsForFamily(options, 'IPv6'));
    const restore = text.slice(text.indexOf('# iptables rules, IPv6'));
    applyRestore(rules, restore, { noflush: true, family: 'IPv6' });
    assert.ok(rules.get('nat')?.has('KUBE-SERVICES'));
    const sets = parseIpsetSave(text.slice(text.indexOf('# ipsets, IPv6'), text.indexOf('# iptables rules')));
    assert.equal(sets.length, plan.families[0]?.ipsets.length);
  });
});
