import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TracePacket, TraceResult } from '../contracts/trace.ts';
import { endpoint, NODE_IP, planOptions, proxyState, servicePortState } from '../model/testing/fixtures.ts';
import type { Endpoint, ServicePortState } from '../model/types.ts';
import { explainTopology, withTopology } from './topology_trace.ts';

const a = endpoint({ ip: '198.18.1.1', zoneHints: ['zone-a'] });
const b = endpoint({ ip: '198.18.1.2', zoneHints: ['zone-b'] });
const c = endpoint({ ip: '198.18.1.3', zoneHints: ['zone-a'] });

/** A NodePort service port whose cluster endpoints topology narrowed to zone-a's. */
function zoned(overrides: Partial<ServicePortState> = {}): ServicePortState {
  const all: Endpoint[] = [a, b, c];
  return servicePortState({
    type: 'NodePort',
    nodePort: 30080,
    trafficDistribution: 'PreferSameZone',
    topology: { mode: 'PreferSameZone', reason: 'hints for zone zone-a used' },
    allEndpoints: all,
    clusterEndpoints: [a, c],
    internalEndpoints: [a, c],
    externalEndpoints: [a, c],
    ...overrides,
  });
}

const toVip: TracePacket = { source: '198.18.5.5', destination: '198.18.100.1', port: 80, protocol: 'TCP' };
const result: TraceResult = { verdict: 'DNAT', masquerade: false, backends: [], path: ['KUBE-SERVICES'] };

describe('topology in kproxy trace', () => {
  it('says which endpoints topology kept and why, in a new field and as a path step', () => {
    const state = proxyState([zoned()]);
    const traced = withTopology(result, { state, options: planOptions(), packet: toVip });
    assert.deepEqual(traced.topology, [
      {
        servicePort: 'default/web:/TCP',
        traffic: 'internal',
        trafficDistribution: 'PreferSameZone',
        mode: 'PreferSameZone',
        reason: 'hints for zone zone-a used',
        applies: true,
        kept: ['198.18.1.1:8080', '198.18.1.3:8080'],
        dropped: ['198.18.1.2:8080'],
      },
    ]);
    assert.deepEqual(traced.path, [
      'KUBE-SERVICES',
      'topology (default/web:/TCP): trafficDistribution PreferSameZone; hints for zone zone-a used: kept 198.18.1.1:8080, 198.18.1.3:8080; left out 198.18.1.2:8080',
    ]);
    // The existing fields are untouched.
    assert.equal(traced.verdict, 'DNAT');
    assert.deepEqual(traced.backends, []);
  });

  it('explains why hints were ignored, and that external traffic under policy Local does not use them', () => {
    const ignored = zoned({
      externalTrafficPolicy: 'Local',
      topology: { mode: undefined, reason: 'zone hints ignored: endpoint 198.18.1.4:8080 has no zone hint' },
      clusterEndpoints: [a, b, c],
    });
    const state = proxyState([ignored]);
    const viaNodePort: TracePacket = { ...toVip, destination: NODE_IP, port: 30080 };
    const external = withTopology(result, { state, options: planOptions(), packet: viaNodePort });
    assert.equal(
      external.path.at(-1),
      "topology (default/web:/TCP): not used: externalTrafficPolicy Local sends external traffic to this node's endpoints (zone hints ignored: endpoint 198.18.1.4:8080 has no zone hint)",
    );
    const internal = withTopology(result, { state, options: planOptions(), packet: toVip });
    assert.equal(
      internal.path.at(-1),
      'topology (default/web:/TCP): trafficDistribution PreferSameZone; zone hints ignored: endpoint 198.18.1.4:8080 has no zone hint: every usable endpoint kept',
    );
  });

  it('says a trafficDistribution without hints does nothing in the proxy', () => {
    const state = proxyState([
      servicePortState({ trafficDistribution: 'PreferSameNode', allEndpoints: [endpoint()] }),
    ]);
    const [t] = explainTopology(state, { packet: toVip, nodeIPs: [] });
    assert.equal(t?.reason, 'no hints');
    assert.deepEqual(
      withTopology(result, { state, options: planOptions(), packet: toVip }).path.at(-1),
      'topology (default/web:/TCP): trafficDistribution PreferSameNode; no hints (the EndpointSlice controller writes them; the proxy follows only hints): every usable endpoint kept',
    );
  });

  it('leaves a trace without hints or trafficDistribution as it was, and other services out', () => {
    const plain = servicePortState({ allEndpoints: [endpoint()] });
    const other = zoned({ serviceName: 'other', clusterIPs: ['198.18.100.2'], nodePort: 0 });
    const state = proxyState([plain, other]);
    assert.equal(withTopology(result, { state, options: planOptions(), packet: toVip }), result);
    assert.deepEqual(explainTopology(state, { packet: { ...toVip, protocol: 'UDP' }, nodeIPs: [] }), []);
  });
});
