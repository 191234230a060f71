/**
 * `kproxy trace` with interface-based local-traffic detection: both rule-walking tracers take the input
 * interface, and say when they needed it and had none.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UNDECIDED_INTERFACE_NOTE } from '../trace/local_detection_note.ts';
import { SCENARIOS } from './common/testing/scenarios.ts';
import { traceNftablesState } from './nftables/index.ts';
import { loadMode } from './registry.ts';

const iptables = await loadMode('iptables');
const packet = { source: '10.0.0.2', destination: '172.30.0.41', port: 80, protocol: 'TCP' } as const;

for (const name of ['detect-local-bridge-interface', 'detect-local-interface-name-prefix']) {
  const s = SCENARIOS.find((x) => x.name === name);
  assert.ok(s, name);
  describe(`trace --in-interface: ${name}`, () => {
    for (const [mode, trace] of [
      ['iptables', iptables.trace],
      ['nftables', traceNftablesState],
    ] as const) {
      it(`${mode}: says so when the input interface is unknown`, () => {
        const r = trace(s.state, s.options, packet);
        assert.equal(r.path[0], UNDECIDED_INTERFACE_NOTE);
        assert.equal(r.masquerade, true);
      });
      it(`${mode}: no such note once the interface is given, or for the node's own packets`, () => {
        const local = name.includes('bridge') ? 'cbr0' : 'veth0';
        const r = trace(s.state, s.options, { ...packet, inInterface: local });
        assert.ok(!r.path.includes(UNDECIDED_INTERFACE_NOTE), r.path.join('\n'));
        assert.equal(r.masquerade, false);
        const fromNode = trace(s.state, s.options, { ...packet, source: s.options.nodeIPs[0] ?? '' });
        assert.ok(!fromNode.path.includes(UNDECIDED_INTERFACE_NOTE), fromNode.path.join('\n'));
      });
    }
  });
}
