import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointAddress, endpointSliceSpec, serviceSpec } from '../model/testing/fixtures.ts';
import type { EndpointAddressSpec, EndpointSliceSpec, ServiceSpec } from '../model/types.ts';
import { ProxyStateTracker } from './proxy_state_tracker.ts';

function slice(
  endpoints: EndpointAddressSpec[],
  overrides: Partial<EndpointSliceSpec> = {},
): EndpointSliceSpec {
  return endpointSliceSpec({ endpoints, ...overrides });
}

function tracker() {
  const t = new ProxyStateTracker({ nodeName: 'node-a' });
  let at = 1000;
  const add = (spec: ServiceSpec | EndpointSliceSpec, type: 'add' | 'update' = 'add') =>
    t.handle({
      type,
      object: 'serviceName' in spec ? { kind: 'EndpointSlice', spec } : { kind: 'Service', spec },
      at: at++,
    });
  return { t, add };
}

const addrs = (eps: readonly { ip: string; port: number }[]) => eps.map((e) => `${e.ip}:${e.port}`);

describe('ProxyStateTracker', () => {
  it('waits for the source to be synced and reports pending changes with their first-seen time', () => {
    const { t, add } = tracker();
    assert.equal(t.synced, false);
    assert.equal(t.pending, false);
    add(serviceSpec());
    add(slice([endpointAddress('198.18.1.1')]));
    assert.equal(t.pending, true);
    assert.equal(t.pendingSince, 1000);
    assert.deepEqual(t.pendingEvents, { services: 1, endpoints: 1 });
    t.handle({ type: 'synced' });
    assert.equal(t.synced, true);
    const { state, change } = t.snapshot();
    assert.equal(state.version, 1);
    assert.deepEqual([...state.servicePorts.keys()], ['default/web:http/TCP']);
    assert.deepEqual([...change.changed], ['default/web:http/TCP']);
    assert.equal(change.firstSeen.get('default/web:http/TCP'), 1000);
    assert.equal(t.pending, false);
  });

  it('keeps only ready endpoints, sorted numerically', () => {
    const { t, add } = tracker();
    add(serviceSpec());
    add(
      slice([
        endpointAddress('198.18.1.10'),
        endpointAddress('198.18.1.9'),
        endpointAddress('198.18.1.2', { ready: false, serving: false }),
      ]),
    );
    const port = t.snapshot().state.servicePorts.get('default/web:http/TCP')!;
    assert.deepEqual(addrs(port.allEndpoints), ['198.18.1.2:8080', '198.18.1.9:8080', '198.18.1.10:8080']);
    assert.deepEqual(addrs(port.clusterEndpoints), ['198.18.1.9:8080', '198.18.1.10:8080']);
    assert.deepEqual(addrs(port.internalEndpoints), addrs(port.clusterEndpoints));
  });

  it('falls back to serving+terminating endpoints only when none is ready', () => {
    const { t, add } = tracker();
    add(serviceSpec());
    add(
      slice([
        endpointAddress('198.18.1.1', { ready: false, serving: true, terminating: true }),
        endpointAddress('198.18.1.2', { ready: false, serving: false, terminating: true }),
      ]),
    );
    let port = t.snapshot().state.servicePorts.get('default/web:http/TCP')!;
    assert.deepEqual(addrs(port.clusterEndpoints), ['198.18.1.1:8080']);
    add(
      slice([
        endpointAddress('198.18.1.1', { ready: false, serving: true, terminating: true }),
        endpointAddress('198.18.1.3'),
      ]),
      'update',
    );
    port = t.snapshot().state.servicePorts.get('default/web:http/TCP')!;
    assert.deepEqual(addrs(port.clusterEndpoints), ['198.18.1.3:8080']);
  });

  it('applies Local traffic policies with this node', () => {
    const { t, add } = tracker();
    add(serviceSpec({ type: 'NodePort', externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Cluster' }));
    add(
      slice([
        endpointAddress('198.18.1.1', { nodeName: 'node-a' }),
        endpointAddress('198.18.1.2', { nodeName: 'node-b' }),
      ]),
    );
    const port = t.snapshot().state.servicePorts.get('default/web:http/TCP')!;
    assert.deepEqual(addrs(port.localEndpoints), ['198.18.1.1:8080']);
    assert.equal(port.localEndpoints[0]?.isLocal, true);
    assert.deepEqual(addrs(port.externalEndpoints), ['198.18.1.1:8080']);
    assert.deepEqual(addrs(port.internalEndpoints), ['198.18.1.1:8080', '198.18.1.2:8080']);

    add(serviceSpec({ internalTrafficPolicy: 'Local' }), 'update');
    const local = t.snapshot().state.servicePorts.get('default/web:http/TCP')!;
    assert.deepEqual(addrs(local.internalEndpoints), ['198.18.1.1:8080']);
  });

  it('uses local terminating endpoints when no local endpoint is ready', () => {
    const { t, add } = tracker();
    add(serviceSpec({ type: 'NodePort', externalTrafficPolicy: 'Local' }));
    add(
      slice([
        endpointAddress('198.18.1.1', { nodeName: 'node-a', ready: false, serving: true, terminating: true }),
        endpointAddress('198.18.1.2', { nodeName: 'node-b' }),
      ]),
    );
    const port = t.snapshot().state.servicePorts.get('default/web:http/TCP')!;
    assert.deepEqual(addrs(port.externalEndpoints), ['198.18.1.1:8080']);
    assert.deepEqual(addrs(port.clusterEndpoints), ['198.18.1.2:8080']);
  });

  it('resolves ports by service port name, and by a named targetPort', () => {
    const { t, add } = tracker();
    add(
      serviceSpec({
        ports: [
          { name: 'http', protocol: 'TCP', port: 80, targetPort: 'web', nodePort: 0 },
          { name: 'dns', protocol: 'UDP', port: 53, targetPort: 'dns-udp', nodePort: 0 },
          { name: 'metrics', protocol: 'TCP', port: 9100, targetPort: 9100, nodePort: 0 },
        ],
      }),
    );
    add(
      slice([endpointAddress('198.18.1.1')], {
        ports: [
          { name: 'http', protocol: 'TCP', port: 8080 },
          { name: 'dns-udp', protocol: 'UDP', port: 5353 },
          { name: 'dns-udp', protocol: 'TCP', port: 5354 },
        ],
      }),
    );
    const ports = t.snapshot().state.servicePorts;
    assert.deepEqual(
      [...ports.keys()],
      ['default/web:dns/UDP', 'default/web:http/TCP', 'default/web:metrics/TCP'],
    );
    assert.deepEqual(addrs(ports.get('default/web:http/TCP')!.allEndpoints), ['198.18.1.1:8080']);
    assert.deepEqual(addrs(ports.get('default/web:dns/UDP')!.allEndpoints), ['198.18.1.1:5353']);
    assert.deepEqual(ports.get('default/web:metrics/TCP')!.allEndpoints, [], 'no slice port of that name');
  });

  it('merges slices, deduplicates addresses (ready wins) and ignores legacy Endpoints when slices exist', () => {
    const { t, add } = tracker();
    add(serviceSpec());
    add(slice([endpointAddress('198.18.1.1', { ready: false, serving: false })], { name: 'web-1' }));
    add(slice([endpointAddress('198.18.1.1'), endpointAddress('198.18.1.2')], { name: 'web-2' }));
    add(slice([endpointAddress('198.18.9.9')], { name: 'web', legacy: true }));
    const port = t.snapshot().state.servicePorts.get('default/web:http/TCP')!;
    assert.deepEqual(addrs(port.clusterEndpoints), ['198.18.1.1:8080', '198.18.1.2:8080']);
    t.handle({
      type: 'delete',
      ref: { kind: 'EndpointSlice', namespace: 'default', name: 'web-1', legacy: false },
      at: 5,
    });
    t.handle({
      type: 'delete',
      ref: { kind: 'EndpointSlice', namespace: 'default', name: 'web-2', legacy: false },
      at: 6,
    });
    const legacyOnly = t.snapshot().state.servicePorts.get('default/web:http/TCP')!;
    assert.deepEqual(addrs(legacyOnly.clusterEndpoints), ['198.18.9.9:8080']);
  });

  it('reports only real changes: an identical update nets out to nothing', () => {
    const { t, add } = tracker();
    add(serviceSpec());
    add(slice([endpointAddress('198.18.1.1')]));
    const first = t.snapshot();
    add(slice([endpointAddress('198.18.1.1')]), 'update');
    const second = t.snapshot();
    assert.equal(second.change.changed.size, 0);
    assert.equal(second.change.endpointEvents, 1);
    assert.equal(
      second.state.servicePorts,
      first.state.servicePorts,
      'unchanged state is shared, not copied',
    );
    assert.equal(second.state.version, first.state.version + 1);
  });

  it('reports removed service ports, and a slice moving to another service changes both', () => {
    const { t, add } = tracker();
    add(serviceSpec());
    add(serviceSpec({ name: 'api', clusterIPs: ['198.18.100.2'] }));
    add(slice([endpointAddress('198.18.1.1')]));
    t.snapshot();
    add(slice([endpointAddress('198.18.1.1')], { serviceName: 'api' }), 'update');
    const moved = t.snapshot();
    assert.deepEqual([...moved.change.changed].sort(), ['default/api:http/TCP', 'default/web:http/TCP']);
    assert.deepEqual(addrs(moved.state.servicePorts.get('default/api:http/TCP')!.allEndpoints), [
      '198.18.1.1:8080',
    ]);
    assert.deepEqual(moved.state.servicePorts.get('default/web:http/TCP')!.allEndpoints, []);

    t.handle({ type: 'delete', ref: { kind: 'Service', namespace: 'default', name: 'web' }, at: 99 });
    const gone = t.snapshot();
    assert.deepEqual([...gone.change.removed], ['default/web:http/TCP']);
    assert.equal(gone.change.firstSeen.get('default/web:http/TCP'), 99);
    assert.deepEqual([...gone.state.servicePorts.keys()], ['default/api:http/TCP']);
  });

  it('keeps earlier snapshots immutable', () => {
    const { t, add } = tracker();
    add(serviceSpec());
    const first = t.snapshot().state;
    add(serviceSpec({ name: 'zzz' }));
    const second = t.snapshot().state;
    assert.equal(first.servicePorts.size, 1);
    assert.equal(second.servicePorts.size, 2);
  });

  it("follows this node's zone: setNodeTopology re-selects every service's endpoints by their zone hints", () => {
    const { t, add } = tracker();
    add(serviceSpec({ trafficDistribution: 'PreferSameZone' }));
    add(serviceSpec({ name: 'other' }));
    add(
      slice([
        endpointAddress('198.18.1.1', { zoneHints: ['zone-a'] }),
        endpointAddress('198.18.1.2', { zoneHints: ['zone-b'] }),
      ]),
    );
    const key = 'default/web:http/TCP';
    let port = t.snapshot().state.servicePorts.get(key)!;
    // No zone yet: like upstream for a node without the label, every endpoint.
    assert.deepEqual(addrs(port.clusterEndpoints), ['198.18.1.1:8080', '198.18.1.2:8080']);
    assert.equal(port.trafficDistribution, 'PreferSameZone');
    assert.deepEqual(
      port.allEndpoints.map((e) => e.zoneHints),
      [['zone-a'], ['zone-b']],
    );

    assert.equal(t.setNodeTopology({ zone: 'zone-b' }, 5000), true);
    assert.equal(t.pending, true);
    assert.equal(t.pendingSince, 5000);
    const { state, change } = t.snapshot();
    port = state.servicePorts.get(key)!;
    assert.deepEqual(addrs(port.clusterEndpoints), ['198.18.1.2:8080']);
    assert.deepEqual(port.topology, { mode: 'PreferSameZone', reason: 'hints for zone zone-b used' });
    // Only what really changed is reported: the other service has no hints.
    assert.deepEqual([...change.changed], [key]);

    assert.equal(t.setNodeTopology({ zone: 'zone-b' }), false, 'the same zone again is no change');
    assert.equal(t.pending, false);
    assert.equal(t.setNodeTopology({ zone: '' }), true, 'an empty label is no zone');
    assert.deepEqual(t.nodeTopology, { zone: undefined });
    port = t.snapshot().state.servicePorts.get(key)!;
    assert.deepEqual(addrs(port.clusterEndpoints), ['198.18.1.1:8080', '198.18.1.2:8080']);
  });

  it('takes the zone at construction too, and uses node hints for its node name', () => {
    const t = new ProxyStateTracker({ nodeName: 'node-a', topology: { zone: 'zone-a' } });
    t.handle({ type: 'add', object: { kind: 'Service', spec: serviceSpec() }, at: 1 });
    const hinted = (ip: string, node: string) =>
      endpointAddress(ip, { zoneHints: ['zone-a'], nodeHints: [node], nodeName: node });
    const spec = slice([hinted('198.18.1.1', 'node-b'), hinted('198.18.1.2', 'node-a')]);
    t.handle({ type: 'add', object: { kind: 'EndpointSlice', spec }, at: 2 });
    const port = t.snapshot().state.servicePorts.get('default/web:http/TCP')!;
    assert.deepEqual(addrs(port.clusterEndpoints), ['198.18.1.2:8080']);
    assert.equal(port.topology.mode, 'PreferSameNode');
  });

  describe('first-seen time for the programming-latency metric', () => {
    /** A tracker started at 10 000 (fake clock) with a service seen at 20 000 and synced. */
    function started() {
      const t = new ProxyStateTracker({ nodeName: 'node-a', startedAt: 10_000 });
      t.handle({ type: 'add', object: { kind: 'Service', spec: serviceSpec() }, at: 20_000 });
      t.handle({ type: 'synced' });
      t.snapshot();
      const slice = (ip: string, lastChangeTriggerTime?: number) =>
        endpointSliceSpec({
          endpoints: [endpointAddress(ip)],
          ...(lastChangeTriggerTime === undefined ? {} : { lastChangeTriggerTime }),
        });
      const seen = (spec: EndpointSliceSpec, at: number) =>
        t.handle({ type: 'update', object: { kind: 'EndpointSlice', spec }, at });
      return { t, slice, seen };
    }

    it("is the slice's trigger time when it has one", () => {
      const { t, slice, seen } = started();
      seen(slice('198.18.1.1', 29_250), 30_000);
      assert.equal(t.pendingSince, 29_250);
      assert.deepEqual([...t.snapshot().change.firstSeen], [['default/web:http/TCP', 29_250]]);
    });

    it('is when the event was seen when the slice has none', () => {
      const { t, slice, seen } = started();
      seen(slice('198.18.1.1'), 30_000);
      assert.deepEqual([...t.snapshot().change.firstSeen], [['default/web:http/TCP', 30_000]]);
    });

    it('ignores a trigger time from before the tracker started, as upstream', () => {
      const { t, slice, seen } = started();
      seen(slice('198.18.1.1', 9_000), 30_000);
      assert.deepEqual([...t.snapshot().change.firstSeen], [['default/web:http/TCP', 30_000]]);
    });

    it('keeps the earliest of several changes folded into one sync', () => {
      const { t, slice, seen } = started();
      seen(slice('198.18.1.1', 29_000), 31_000);
      seen(slice('198.18.1.2', 30_500), 30_600);
      assert.deepEqual([...t.snapshot().change.firstSeen], [['default/web:http/TCP', 29_000]]);
    });

    it('records nothing when the annotated update changes no service port', () => {
      const { t, slice, seen } = started();
      seen(slice('198.18.1.1', 29_000), 30_000);
      t.snapshot();
      seen(slice('198.18.1.1', 35_000), 36_000);
      assert.equal(t.snapshot().change.firstSeen.size, 0);
    });
  });
});
