/**
 * Golden files of `kproxy rules --proxy-mode iptables` for every scenario of testing/scenarios.ts. Regenerate
 * with `KPROXY_UPDATE_GOLDEN=1 node --import tsx --test src/modes/iptables/plan_golden_test.ts` and
 * review the diff line by line before committing it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { planOptionsForFamily } from '../../contracts/plan_options.ts';
import { tokenizeRestoreLine } from '../../kernel/iptables_restore.ts';
import { applyRestore, type IptablesState } from '../../kernel/iptables_state.ts';
import { familyView } from '../../tracker/family_view.ts';
import { DUAL_STACK_SCENARIOS, type DualStackScenario } from '../common/testing/dual_stack_scenarios.ts';
import { SCENARIOS } from '../common/testing/scenarios.ts';
import { renderFamilies } from '../dual_stack.ts';
import { planIptables } from './plan.ts';
import { renderIptablesPlan } from './render.ts';

const update = process.env['KPROXY_UPDATE_GOLDEN'] === '1';

describe('iptables plan golden files', () => {
  for (const s of SCENARIOS) {
    it(s.name, () => {
      const text = renderIptablesPlan(planIptables(s.state, s.options));
      const file = new URL(`./testdata/${s.name}.golden`, import.meta.url);
      if (update) writeFileSync(file, text);
      assert.equal(text, readFileSync(file, 'utf8'));
    });
  }
});

/** What `kproxy rules` prints for the scenario: one family bare, or both with their heads. */
function renderScenario(s: DualStackScenario): string {
  const mode = {
    name: 'iptables' as const,
    ipFamilies: s.families,
    renderRules: (state: typeof s.state, options: typeof s.options) =>
      renderIptablesPlan(planIptables(state, options)),
  };
  return renderFamilies(mode, s.state, s.options, s.families.length === 1 ? s.families[0] : undefined);
}

describe('iptables plan golden files, per IP family', () => {
  for (const s of DUAL_STACK_SCENARIOS) {
    it(s.name, () => {
      const text = renderScenario(s);
      const file = new URL(`./testdata/${s.name}.golden`, import.meta.url);
      if (update) writeFileSync(file, text);
      assert.equal(text, readFileSync(file, 'utf8'));
    });
  }

  for (const s of DUAL_STACK_SCENARIOS) {
    for (const family of s.families) {
      it(`${s.name} (${family}) is accepted by the strict ${family === 'IPv6' ? 'ip6tables' : 'iptables'}-restore model`, () => {
        const state: IptablesState = new Map();
        const plan = planIptables(familyView(s.state, family), planOptionsForFamily(s.options, family));
        applyRestore(state, renderIptablesPlan(plan), { noflush: true, family });
        assert.ok(state.get('nat')?.has('KUBE-SERVICES'));
      });
    }
  }
});

describe('every golden plan', () => {
  for (const s of SCENARIOS) {
    it(`${s.name} is accepted by the strict iptables-restore model`, () => {
      const state: IptablesState = new Map();
      applyRestore(state, renderIptablesPlan(planIptables(s.state, s.options)), { noflush: true });
      assert.ok(state.get('nat')?.has('KUBE-SERVICES'));
      assert.ok(state.get('filter')?.has('KUBE-SERVICES'));
    });
  }
});

describe('hostile object names', () => {
  const s = SCENARIOS.find((x) => x.name === 'hostile-names')!;
  const text = renderIptablesPlan(planIptables(s.state, s.options));

  it('cannot start a line of their own', () => {
    for (const line of text.split('\n')) {
      assert.doesNotMatch(line, /^-A INPUT/);
    }
  });

  it('stay inside one comment argument: every rule has exactly one target', () => {
    for (const line of text.split('\n').filter((l) => l.startsWith('-A '))) {
      const tokens = tokenizeRestoreLine(line);
      assert.ok(tokens.filter((t) => t === '-j').length <= 1, line);
      const i = tokens.indexOf('--comment');
      if (i >= 0) assert.doesNotMatch(tokens[i + 1]!, /["\\\n]/);
    }
  });
});
