// The per-family view of the tracker's state (family_view.ts), built from real tracker snapshots: what
// each family's Proxier is given. Addresses: IPv4 from 198.18.0.0/15, IPv6 from 2001:2::/48; VIPs
// 198.18.100.x / 2001:2:0:f::x, endpoints 198.18.1.x / 2001:2:0:1::x, this node is node-a.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointAddress, endpointSliceSpec, serviceSpec } from '../model/testing/fixtures.ts';
import type {
  EndpointAddressSpec,
  EndpointSliceSpec,
  IPFamily,
  ProxyState,
  ServicePortState,
  ServiceSpec,
} from '../model/types.ts';
import { familyView, servicePortForFamily } from './family_view.ts';
import { ProxyStateTracker } from './proxy_state_tracker.ts';

const WEB = 'default/web:http/TCP';

/** A dual-stack Service (IPv4 primary), with the overrides. */
function dualStack(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return serviceSpec({
    clusterIPs: ['198.18.100.1', '2001:2:0:f::1'],
    ipFamilies: ['IPv4', 'IPv6'],
    ...overrides,
  });
}

/** An EndpointSlice of service web of one family. */
function slice(family: IPFamily, endpoints: EndpointAddressSpec[], name?: string): EndpointSliceSpec {
  return endpointSliceSpec({
    name: name ?? (family === 'IPv4' ? 'web-v4' : 'web-v6'),
    addressType: family,
    endpoints,
  });
}

/** A synced tracker for node-a, fed in order. */
function tracker(objects: readonly (ServiceSpec | EndpointSliceSpec)[], zone?: string) {
  const t = new ProxyStateTracker({ nodeName: 'node-a', topology: { zone } });
  let at = 1000;
  const feed = (spec: ServiceSpec | EndpointSliceSpec, type: 'add' | 'update' = 'add') =>
    t.handle({
      type,
      object: 'serviceName' in spec ? { kind: 'EndpointSlice', spec } : { kind: 'Service', spec },
      at: at++,
    });
  for (const o of objects) feed(o);
  t.handle({ type: 'synced' });
  return { t, feed };
}

function snapshot(objects: readonly (ServiceSpec | EndpointSliceSpec)[], zone?: string): ProxyState {
  return tracker(objects, zone).t.snapshot().state;
}

function port(state: ProxyState, key = WEB): ServicePortState | undefined {
  return state.servicePorts.get(key);
}

const ips = (eps: readonly { ip: string }[]) => eps.map((e) => e.ip);

describe('familyView', () => {
  it('keeps a single-stack IPv4 service port as it is (the same object) and leaves it out of IPv6', () => {
    const state = snapshot([serviceSpec(), slice('IPv4', [endpointAddress('198.18.1.1')])]);
    const v4 = familyView(state, 'IPv4');
    const v6 = familyView(state, 'IPv6');
    assert.equal(port(v4), port(state), 'its own view');
    assert.equal(v4.ipFamily, 'IPv4');
    assert.equal(v4.version, state.version);
    assert.equal(v4.nodeName, 'node-a');
    assert.equal(v6.ipFamily, 'IPv6');
    assert.equal(v6.servicePorts.size, 0, 'nothing is programmed for a family the Service does not have');
  });

  it('keeps an IPv6-only service port as it is in IPv6 and leaves it out of IPv4', () => {
    const state = snapshot([
      serviceSpec({ clusterIPs: ['2001:2:0:f::1'], ipFamilies: ['IPv6'] }),
      slice('IPv6', [endpointAddress('2001:2:0:1::1')]),
    ]);
    assert.equal(port(familyView(state, 'IPv6')), port(state));
    assert.equal(familyView(state, 'IPv4').servicePorts.size, 0);
  });

  it('splits a dual-stack service port into one per family: its cluster IP, family and endpoints alone', () => {
    const state = snapshot([
      dualStack(),
      slice('IPv4', [endpointAddress('198.18.1.1'), endpointAddress('198.18.1.2')]),
      slice('IPv6', [endpointAddress('2001:2:0:1::1')]),
    ]);
    assert.deepEqual(ips(port(state)!.allEndpoints).length, 3, 'the snapshot holds both families');
    const v4 = port(familyView(state, 'IPv4'))!;
    const v6 = port(familyView(state, 'IPv6'))!;
    assert.deepEqual(v4.clusterIPs, ['198.18.100.1']);
    assert.deepEqual(v4.ipFamilies, ['IPv4']);
    assert.deepEqual(ips(v4.allEndpoints), ['198.18.1.1', '198.18.1.2']);
    assert.deepEqual(ips(v4.clusterEndpoints), ['198.18.1.1', '198.18.1.2']);
    assert.deepEqual(v6.clusterIPs, ['2001:2:0:f::1']);
    assert.deepEqual(v6.ipFamilies, ['IPv6']);
    assert.deepEqual(ips(v6.allEndpoints), ['2001:2:0:1::1']);
    assert.deepEqual(ips(v6.clusterEndpoints), ['2001:2:0:1::1']);
    assert.deepEqual(ips(v6.internalEndpoints), ['2001:2:0:1::1']);
    assert.deepEqual(ips(v6.externalEndpoints), ['2001:2:0:1::1']);
    assert.equal(v4.key, WEB);
    assert.equal(v6.key, WEB, 'the same service port key in both families');
  });

  it("never lets one family's endpoints stand in for the other's missing ones", () => {
    const state = snapshot([
      dualStack(),
      slice('IPv4', [endpointAddress('198.18.1.1', { ready: false, serving: false })]),
      slice('IPv6', [endpointAddress('2001:2:0:1::1')]),
    ]);
    const v4 = port(familyView(state, 'IPv4'))!;
    assert.deepEqual(ips(v4.allEndpoints), ['198.18.1.1']);
    assert.deepEqual(v4.clusterEndpoints, [], 'IPv4 has no ready endpoint: its VIP rejects');
    assert.deepEqual(v4.internalEndpoints, []);
    assert.deepEqual(ips(port(familyView(state, 'IPv6'))!.clusterEndpoints), ['2001:2:0:1::1']);
  });

  it('decides the serving-terminating fallback per family', () => {
    const state = snapshot([
      dualStack(),
      slice('IPv4', [endpointAddress('198.18.1.1', { ready: false, serving: true, terminating: true })]),
      slice('IPv6', [
        endpointAddress('2001:2:0:1::1'),
        endpointAddress('2001:2:0:1::2', { ready: false, serving: true, terminating: true }),
      ]),
    ]);
    // IPv4 has no ready endpoint: its terminating one serves; IPv6 has a ready one: only it.
    assert.deepEqual(ips(port(familyView(state, 'IPv4'))!.clusterEndpoints), ['198.18.1.1']);
    assert.deepEqual(ips(port(familyView(state, 'IPv6'))!.clusterEndpoints), ['2001:2:0:1::1']);
  });

  it('decides topology per family: hints on every IPv4 endpoint count even when an IPv6 one has none', () => {
    const state = snapshot(
      [
        dualStack(),
        slice('IPv4', [
          endpointAddress('198.18.1.1', { zone: 'zone-a', zoneHints: ['zone-a'] }),
          endpointAddress('198.18.1.2', { zone: 'zone-b', zoneHints: ['zone-b'] }),
        ]),
        slice('IPv6', [
          endpointAddress('2001:2:0:1::1', { zone: 'zone-a', zoneHints: ['zone-a'] }),
          endpointAddress('2001:2:0:1::2', { zone: 'zone-b' }),
        ]),
      ],
      'zone-a',
    );
    assert.equal(
      port(state)!.topology.mode,
      undefined,
      'on both families together, one endpoint lacks hints',
    );
    const v4 = port(familyView(state, 'IPv4'))!;
    const v6 = port(familyView(state, 'IPv6'))!;
    assert.equal(v4.topology.mode, 'PreferSameZone');
    assert.deepEqual(ips(v4.clusterEndpoints), ['198.18.1.1']);
    assert.equal(v6.topology.mode, undefined);
    assert.deepEqual(ips(v6.clusterEndpoints), ['2001:2:0:1::1', '2001:2:0:1::2']);
  });

  it('decides local endpoints per family (externalTrafficPolicy Local)', () => {
    const state = snapshot([
      dualStack({ type: 'NodePort', externalTrafficPolicy: 'Local' }),
      slice('IPv4', [endpointAddress('198.18.1.1', { nodeName: 'node-a' })]),
      slice('IPv6', [endpointAddress('2001:2:0:1::1', { nodeName: 'node-b' })]),
    ]);
    const v4 = port(familyView(state, 'IPv4'))!;
    const v6 = port(familyView(state, 'IPv6'))!;
    assert.deepEqual(ips(v4.localEndpoints), ['198.18.1.1']);
    assert.deepEqual(ips(v4.externalEndpoints), ['198.18.1.1']);
    assert.deepEqual(v6.localEndpoints, [], 'the IPv4 local endpoint says nothing of IPv6');
    assert.deepEqual(v6.externalEndpoints, []);
    assert.deepEqual(ips(v6.clusterEndpoints), ['2001:2:0:1::1']);
  });

  it('splits external IPs, load-balancer IPs and source ranges by family (ranges of one family only leave the other open)', () => {
    const state = snapshot([
      dualStack({
        type: 'LoadBalancer',
        externalIPs: ['198.18.200.1', '2001:2:0:e::1'],
        loadBalancerIPs: ['198.18.201.1', '2001:2:0:e::2'],
        loadBalancerSourceRanges: ['198.18.5.0/24'],
      }),
      slice('IPv4', [endpointAddress('198.18.1.1')]),
      slice('IPv6', [endpointAddress('2001:2:0:1::1')]),
    ]);
    const v4 = port(familyView(state, 'IPv4'))!;
    const v6 = port(familyView(state, 'IPv6'))!;
    assert.deepEqual(v4.externalIPs, ['198.18.200.1']);
    assert.deepEqual(v4.loadBalancerIPs, ['198.18.201.1']);
    assert.deepEqual(v4.loadBalancerSourceRanges, ['198.18.5.0/24']);
    assert.deepEqual(v6.externalIPs, ['2001:2:0:e::1']);
    assert.deepEqual(v6.loadBalancerIPs, ['2001:2:0:e::2']);
    assert.deepEqual(v6.loadBalancerSourceRanges, [], 'as upstream: IPv6 is not restricted by IPv4 ranges');
  });

  it("drops a single-stack service's external IP of the other family (no IPv6 rules for an IPv4 Service)", () => {
    const state = snapshot([
      serviceSpec({ externalIPs: ['198.18.200.1', '2001:2:0:e::1'] }),
      slice('IPv4', [endpointAddress('198.18.1.1')]),
    ]);
    const v4 = port(familyView(state, 'IPv4'))!;
    assert.deepEqual(v4.externalIPs, ['198.18.200.1']);
    assert.deepEqual(ips(v4.clusterEndpoints), ['198.18.1.1']);
    assert.equal(familyView(state, 'IPv6').servicePorts.size, 0);
  });

  it('keeps the nodePort, the ports and the policies of the service port in both views', () => {
    const state = snapshot([
      dualStack({
        type: 'NodePort',
        ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
        sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
      }),
      slice('IPv6', [endpointAddress('2001:2:0:1::1')]),
    ]);
    for (const family of ['IPv4', 'IPv6'] as const) {
      const view = port(familyView(state, family))!;
      assert.equal(view.nodePort, 30080, family);
      assert.equal(view.port, 80, family);
      assert.deepEqual(view.sessionAffinity, { type: 'ClientIP', timeoutSeconds: 60 }, family);
    }
  });

  it('caches views: one per snapshot and family, and an unchanged service port keeps its view across snapshots', () => {
    const other = serviceSpec({
      name: 'api',
      clusterIPs: ['198.18.100.2', '2001:2:0:f::2'],
      ipFamilies: ['IPv4', 'IPv6'],
    });
    const { t, feed } = tracker([
      dualStack(),
      other,
      slice('IPv4', [endpointAddress('198.18.1.1')]),
      slice('IPv6', [endpointAddress('2001:2:0:1::1')]),
    ]);
    const first = t.snapshot().state;
    const v6 = familyView(first, 'IPv6');
    assert.equal(familyView(first, 'IPv6'), v6, 'the same view of the same snapshot');
    feed(slice('IPv6', [endpointAddress('2001:2:0:1::1'), endpointAddress('2001:2:0:1::2')]), 'update');
    const second = t.snapshot().state;
    assert.notEqual(second, first);
    const v6next = familyView(second, 'IPv6');
    const api = 'default/api:http/TCP';
    assert.equal(port(second, api), port(first, api), 'the tracker kept api as it was');
    assert.equal(
      port(v6next, api),
      port(v6, api),
      'so its view is the same object (partial syncs compare by reference)',
    );
    assert.notEqual(port(v6next), port(v6), 'web changed');
    assert.deepEqual(ips(port(v6next)!.clusterEndpoints), ['2001:2:0:1::1', '2001:2:0:1::2']);
  });

  it('is a fixed point: a view of the same family is itself, of the other family empty', () => {
    const state = snapshot([dualStack(), slice('IPv4', [endpointAddress('198.18.1.1')])]);
    const v4 = familyView(state, 'IPv4');
    assert.equal(familyView(v4, 'IPv4'), v4);
    assert.equal(familyView(v4, 'IPv6').servicePorts.size, 0);
    assert.equal(familyView(v4, 'IPv6').ipFamily, 'IPv6');
  });

  it('servicePortForFamily answers undefined without a cluster IP of the family', () => {
    const state = snapshot([serviceSpec()]);
    const node = { nodeName: 'node-a', zone: undefined };
    assert.equal(servicePortForFamily(port(state)!, 'IPv6', node), undefined);
    assert.equal(servicePortForFamily(port(state)!, 'IPv6', node), undefined, 'cached as absent');
    assert.equal(servicePortForFamily(port(state)!, 'IPv4', node), port(state));
  });
});
