/**
 * Golden files of `kproxy rules --proxy-mode nftables` (the full-sync `nft -f` script) for every
 * scenario of src/modes/common/testing/scenarios.ts. Regenerate with
 * `KPROXY_UPDATE_GOLDEN=1 node --import tsx --test src/modes/nftables/plan_golden_test.ts` and review the
 * diff line by line before committing it. render_kernel_test.ts has the kernel check them (`nft -c`).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SCENARIOS } from '../common/testing/scenarios.ts';
import { NFT_COMMENT_MAX, NFT_NAME_MAX } from './names.ts';
import { planNftables } from './plan.ts';
import { renderNftablesPlan } from './render.ts';

const update = process.env['KPROXY_UPDATE_GOLDEN'] === '1';

describe('nftables plan golden files', () => {
  for (const s of SCENARIOS) {
    it(s.name, () => {
      const text = renderNftablesPlan(planNftables(s.state, s.options));
      const file = new URL(`./testdata/${s.name}.golden`, import.meta.url);
      if (update) writeFileSync(file, text);
      assert.equal(text, readFileSync(file, 'utf8'));
    });
  }
});

/** A name as it follows `ip kube-proxy` or `@`: an nft identifier. */
const NAME = /^[A-Za-z_.][A-Za-z0-9_./-]*$/;

/** Every line of a script is one of these: kproxy writes nothing else. */
const LINE =
  /^(?:$|# [^\n]*|\t[^\n]*|\}|(?:add|flush|delete) (?:table|chain|set|map|rule|element) ip kube-proxy(?: [^\n]*)?)$/;

describe('every golden script', () => {
  for (const s of SCENARIOS) {
    const text = renderNftablesPlan(planNftables(s.state, s.options));
    it(`${s.name}: only kproxy's commands, names and comments within nft's limits`, () => {
      for (const line of text.split('\n')) {
        assert.match(line, LINE);
        const object = /^(?:add|flush|delete) (?:chain|set|map|rule|element) ip kube-proxy (\S+)/.exec(
          line,
        )?.[1];
        if (object !== undefined) {
          assert.match(object, NAME, line);
          assert.ok(object.length <= NFT_NAME_MAX, line);
        }
        for (const comment of line.matchAll(/comment "([^"]*)"/g)) {
          assert.ok(comment[1]!.length <= NFT_COMMENT_MAX, line);
        }
        // An odd number of quotes would let a comment run on into the next command.
        assert.equal((line.match(/"/g) ?? []).length % 2, 0, line);
      }
    });
  }
});

describe('hostile object names', () => {
  const s = SCENARIOS.find((x) => x.name === 'hostile-names')!;
  const text = renderNftablesPlan(planNftables(s.state, s.options));

  it('cannot start a command or a line of their own', () => {
    assert.doesNotMatch(text, /^-A INPUT/m);
    assert.doesNotMatch(text, /ACCEPT\n/);
  });

  it('appear made safe in names and comments', () => {
    assert.match(text, / comment "ns1\/a\? -j ACCEPT\?-A INPUT -j DROP #:p\?80"$/m);
    const named = renderNftablesPlan(
      planNftables(
        {
          ...s.state,
          servicePorts: new Map([...s.state.servicePorts].map(([k, sp]) => [k, { ...sp, nodePort: 30080 }])),
        },
        s.options,
      ),
    );
    // With a node port, the service port has chains of its own (a ClusterIP-only one has none).
    assert.match(named, /^# ns1\/a\? -j ACCEPT\?-A INPUT -j DROP #:p\?80 \(tcp\)$/m);
    assert.match(
      named,
      /^add chain ip kube-proxy service-[A-Z2-7]{8}-ns1\/a__-j_ACCEPT_-A_INPUT_-j_DROP__\/tcp\/p_80$/m,
    );
  });
});
