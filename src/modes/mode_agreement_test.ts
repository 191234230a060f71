/**
 * The kernel modes agree packet for packet: for every flow of the shared packet-flow tables
 * (src/modes/common/testing/packet_flows.ts), the nftables mode's trace has the same verdict, masquerade
 * and backends (with the same probabilities) as the iptables mode's, except the deliberate differences
 * listed in src/modes/nftables/testing/flow_differences.ts, where each mode must give its own answer. Lives at the
 * registry level because it uses two mode folders, which no mode folder may.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TraceResult } from '../contracts/trace.ts';
import { assertPacketFlow, flowPacket, PACKET_FLOWS } from './common/testing/packet_flows.ts';
import { SCENARIOS } from './common/testing/scenarios.ts';
import { traceNftablesState } from './nftables/index.ts';
import { nftablesDifference, nftablesFlow } from './nftables/testing/flow_differences.ts';
import { loadMode } from './registry.ts';

const iptables = await loadMode('iptables');

function outcome(r: TraceResult): { verdict: string; masquerade: boolean; backends: string[] } {
  return {
    verdict: r.verdict,
    masquerade: r.masquerade,
    backends: r.backends.map((b) => `${b.address} ${b.probability.toFixed(6)}`),
  };
}

for (const table of PACKET_FLOWS) {
  const s = SCENARIOS.find((x) => x.name === table.scenario);
  assert.ok(s, table.scenario);
  describe(`iptables and nftables agree: ${table.scenario}`, () => {
    for (const f of table.flows) {
      it(f.name, () => {
        const a = iptables.trace(s.state, s.options, flowPacket(f));
        const b = traceNftablesState(s.state, s.options, flowPacket(f));
        const why = `\niptables:\n${a.path.join('\n')}\nnftables:\n${b.path.join('\n')}`;
        const difference = nftablesDifference(table.scenario, f);
        if (difference === undefined) {
          assert.deepEqual(outcome(b), outcome(a), why);
        } else {
          // Each mode answers as its own table says, and the answers really differ.
          assertPacketFlow(a, f);
          assertPacketFlow(b, nftablesFlow(table.scenario, f));
          assert.notDeepEqual(outcome(b), outcome(a), `no longer a difference: ${difference.why}${why}`);
        }
      });
    }
  });
}
