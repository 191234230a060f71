/**
 * Properties of the nftables mode's script (issue 17), for any valid state (generated Services and
 * EndpointSlices with hostile but valid names, many ports and endpoints, every policy): the rendered plan
 * is one transaction the strict nft fake accepts, every line is a command kproxy writes (or an element
 * line inside an `add element` block, or a comment), every comment is one quoted string, and a partial
 * sync to another state leaves the table a fresh full sync would. Generators: src/model/testing/arbitraries.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { FakeConntrack } from '../../kernel/testing/conntrack_fake.ts';
import { FakeNft } from '../../kernel/testing/nft_fake.ts';
import { arbPlanOptions, arbProxyState, propertyParameters } from '../../model/testing/arbitraries.ts';
import type { planOptions } from '../../model/testing/fixtures.ts';
import type { ProxyState } from '../../model/types.ts';
import { buildServicePorts } from '../../tracker/service_port_builder.ts';
import { change } from '../common/testing/fixtures.ts';
import { planNftables } from './plan.ts';
import { NftablesProxier, STALE_CHAIN_DELAY_MS } from './proxier.ts';
import { renderNftablesPlan } from './render.ts';
import { tableDump } from './testing/table_dump.ts';

const arbOptions = arbPlanOptions();

const COMMAND = /^(add|flush|delete) (table|chain|set|map|rule|element) ip kube-proxy( |$)/;

/** Asserts that every line is a command kproxy writes and that every comment is one quoted string. */
function assertScriptGrammar(script: string): void {
  let inElements = false;
  for (const line of script.split('\n')) {
    if (inElements) {
      if (line === '}') inElements = false;
      else
        assert.match(
          line,
          /^\t[^"{}#;]+( comment "[^"\\\n]*")?( : [^"{}#;]+)?,?$/,
          `an element line: ${line}`,
        );
      continue;
    }
    if (line === '' || /^# [\x20-\x7e]*$/.test(line)) continue;
    assert.match(line, COMMAND, `a line that is no command kproxy writes: ${line}`);
    if (/^add element .* \{$/.test(line)) inElements = true;
    // Quotes pair up, and each quoted string is a comment (object text never opens a string of its own).
    const quotes = line.match(/"/g)?.length ?? 0;
    assert.equal(quotes % 2, 0, `unbalanced quotes: ${line}`);
    for (const m of line.matchAll(/(\S+) "[^"]*"/g)) assert.equal(m[1], 'comment', line);
    assert.doesNotMatch(line, /[\r\u2028\u2029]/, line);
  }
  assert.equal(inElements, false, 'an element block is not closed');
}

/** A proxier over the fake with a clock the test moves. */
function proxierOn(
  fake: FakeNft,
  options: ReturnType<typeof planOptions>,
): { proxier: NftablesProxier; advance: (ms: number) => void } {
  const deps = {
    options,
    exec: fake.exec,
    logger: pino({ level: 'silent' }),
    iptablesBackend: 'auto' as const,
  };
  let now = 1_000_000;
  const proxier = new NftablesProxier(deps, { conntrack: new FakeConntrack(), now: () => now });
  return { proxier, advance: (ms) => (now += ms) };
}

function allChanged(state: ProxyState, before?: ProxyState) {
  const keys = [...state.servicePorts.keys()];
  const removed =
    before === undefined ? [] : [...before.servicePorts.keys()].filter((k) => !state.servicePorts.has(k));
  return change(keys, removed);
}

describe('nftables rendering properties', () => {
  it('renders one transaction the strict fake accepts, and no object text escapes its comment', () => {
    fc.assert(
      fc.property(arbProxyState(buildServicePorts), arbOptions, (state, options) => {
        const script = renderNftablesPlan(planNftables(state, options));
        assertScriptGrammar(script);
        const fake = new FakeNft();
        const r = fake.answer(['-f', '-'], script);
        assert.equal(r.code, 0, r.stderr);
      }),
      propertyParameters(60),
    );
  });

  it('a sync from one state to another (and a second later) leaves the table a fresh full sync leaves', async () => {
    const arbState = arbProxyState(buildServicePorts, { maxServices: 4 });
    await fc.assert(
      fc.asyncProperty(arbState, arbState, arbOptions, async (first, second, options) => {
        const fake = new FakeNft();
        const { proxier, advance } = proxierOn(fake, options);
        await proxier.sync(first, allChanged(first));
        const next = { ...second, version: 2 };
        await proxier.sync(next, allChanged(next, first));
        // Chains no longer used are deleted a second later (a packet may still be on its way through them).
        advance(STALE_CHAIN_DELAY_MS);
        await proxier.sync({ ...next, version: 3 }, change([]));
        const fresh = new FakeNft();
        await proxierOn(fresh, options).proxier.sync(next, allChanged(next));
        assert.deepEqual(await tableDump(fake), await tableDump(fresh));
      }),
      propertyParameters(30),
    );
  });
});
