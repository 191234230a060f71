/**
 * Packet-flow tables (as upstream's runPacketFlowTests): for each scenario, packets walked through the
 * planned rules by the tracer, with the expected backends (each equally likely), REJECT, DROP, ACCEPT or
 * nothing, and whether the packet is masqueraded. The tables are shared with the other kernel modes:
 * src/modes/common/testing/packet_flows.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertPacketFlow, flowPacket, PACKET_FLOWS } from '../common/testing/packet_flows.ts';
import { SCENARIOS } from '../common/testing/scenarios.ts';
import { iptablesMode } from './index.ts';

for (const table of PACKET_FLOWS) {
  const s = SCENARIOS.find((x) => x.name === table.scenario);
  assert.ok(s, table.scenario);
  describe(`packet flows: ${table.scenario}`, () => {
    for (const f of table.flows) {
      it(f.name, () => {
        assertPacketFlow(iptablesMode.trace(s.state, s.options, flowPacket(f)), f);
      });
    }
  });
}
