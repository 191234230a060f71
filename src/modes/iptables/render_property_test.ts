/**
 * Properties of the iptables mode's rules (issue 17), for any valid state (generated Services and
 * EndpointSlices with hostile but valid names, many ports and endpoints, every policy): the rendered plan
 * is restore input the strict fake accepts, line by line of the grammar kproxy writes, with every comment
 * one argument of printable text; and a packet traced through the plan meets the same fate as one traced
 * through what the Proxier left in the fake. Generators: src/model/testing/arbitraries.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import type { Exec } from '../../kernel/exec.ts';
import { type IptablesTable, tokenizeRestoreLine } from '../../kernel/iptables_restore.ts';
import { FakeConntrack } from '../../kernel/testing/conntrack_fake.ts';
import { FakeIptables } from '../../kernel/testing/iptables_fake.ts';
import {
  arbPacket,
  arbPlanOptions,
  arbProxyState,
  propertyParameters,
} from '../../model/testing/arbitraries.ts';
import { rulesetFromState, traceIptables } from '../../trace/iptables_tracer.ts';
import { buildServicePorts } from '../../tracker/service_port_builder.ts';
import { change } from '../common/testing/fixtures.ts';
import { planIptables } from './plan.ts';
import { IptablesProxier } from './proxier.ts';
import { renderIptablesPlan } from './render.ts';
import { tracePlan } from './trace.ts';

const arbOptions = arbPlanOptions();

/** The lines kproxy writes in restore input (comments of the jumps it ensures once included). */
const RESTORE_LINE =
  /^(\*(filter|nat|mangle)|:[A-Z][A-Z0-9-]{0,28} - \[0:0\]|-A [A-Z][A-Z0-9-]{0,28} .+|COMMIT|# ensured once: -A [A-Z]+ .+)$/;

/** Asserts that every line is one kproxy writes and that a comment is one argument of printable text. */
function assertRestoreGrammar(text: string): void {
  for (const line of text.split('\n').slice(0, -1)) {
    assert.match(line, RESTORE_LINE, 'a line kproxy does not write');
    if (!line.startsWith('-A ')) continue;
    const args = tokenizeRestoreLine(line);
    args.forEach((arg, i) => {
      if (args[i - 1] === '--comment') assert.match(arg, /^[\x20-\x7e]{1,255}$/, line);
      else assert.match(arg, /^[^\s"\\]+$/, `an argument that is not one word: ${line}`);
    });
    // What follows a comment is a match or a target, never text that escaped the comment.
    const comment = args.indexOf('--comment');
    if (comment !== -1) assert.match(args[comment + 2] ?? '-j', /^(-[a-z]|--?[a-z])/, line);
  }
}

/** Splits rendered restore input into its tables. */
function tablesOf(text: string): Map<IptablesTable, string> {
  const out = new Map<IptablesTable, string>();
  for (const part of text.split(/^(?=\*)/m)) {
    const name = /^\*(\w+)/.exec(part)?.[1] as IptablesTable | undefined;
    if (name !== undefined) out.set(name, part);
  }
  return out;
}

const noExec: Exec = async () => {
  throw new Error('No exec in fake tests');
};

describe('iptables rendering properties', () => {
  it('renders input the strict fake accepts, and no object text escapes its comment', () => {
    fc.assert(
      fc.property(arbProxyState(buildServicePorts), arbOptions, (state, options) => {
        const text = renderIptablesPlan(planIptables(state, options));
        assertRestoreGrammar(text);
        const fake = new FakeIptables();
        for (const [table, input] of tablesOf(text)) {
          const r = fake.answer('restore', ['--noflush'], input);
          assert.equal(r.code, 0, `${table}: ${r.stderr}`);
        }
      }),
      propertyParameters(60),
    );
  });

  it('traces a packet through the plan as through what the Proxier left in the fake', async () => {
    const cases = fc
      .tuple(arbProxyState(buildServicePorts), arbOptions)
      .chain(([state, options]) =>
        fc.tuple(
          fc.constant(state),
          fc.constant(options),
          fc.array(arbPacket(state), { minLength: 1, maxLength: 8 }),
        ),
      );
    await fc.assert(
      fc.asyncProperty(cases, async ([state, options, packets]) => {
        const ipt = new FakeIptables();
        const deps = {
          options,
          exec: noExec,
          logger: pino({ level: 'silent' }),
          iptablesBackend: 'legacy' as const,
        };
        const proxier = new IptablesProxier(deps, { iptables: ipt, conntrack: new FakeConntrack() });
        await proxier.sync(state, change([...state.servicePorts.keys()]));
        const plan = planIptables(state, options);
        const inFake = rulesetFromState(ipt.state);
        for (const packet of packets) {
          const planned = tracePlan(plan, options, packet);
          const applied = traceIptables(inFake, packet, { localAddresses: options.nodeIPs });
          const outcome = (r: typeof planned) => ({
            verdict: r.verdict,
            masquerade: r.masquerade,
            backends: r.backends.map((b) => `${b.address} ${b.probability.toFixed(6)}`),
          });
          assert.deepEqual(
            outcome(applied),
            outcome(planned),
            `${JSON.stringify(packet)}\n${planned.path.join('\n')}`,
          );
        }
      }),
      propertyParameters(40),
    );
  });
});
