import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProblem } from './problem.ts';
import type { EndpointSliceSpec } from './types.ts';
import {
  LAST_CHANGE_TRIGGER_TIME,
  parseRfc3339,
  validateEndpointSlice,
  validateEndpoints,
} from './validate_endpoints.ts';
import type { Validated } from './validated.ts';

/** A valid IPv4 slice `shop/web-abc12` of service `web`, fields merged over one endpoint and port 8080. */
function slice(fields: Record<string, unknown> = {}, labels: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'web-abc12',
      namespace: 'shop',
      labels: { 'kubernetes.io/service-name': 'web', ...labels },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080 }],
    endpoints: [{ addresses: ['10.1.0.5'] }],
    ...fields,
  };
}

/** A legacy Endpoints object `shop/web`. */
function endpoints(subsets: unknown, labels: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'web', namespace: 'shop', labels },
    subsets,
  };
}

function valid<T>(result: Validated<T>): T {
  assert.ok(result.ok === true, JSON.stringify(result));
  return result.value;
}

function problems<T>(result: Validated<T>): string[] {
  assert.equal(result.ok, false, JSON.stringify(result));
  return result.ok === false ? result.problems.map(formatProblem) : [];
}

const readyEndpoint = {
  ready: true,
  serving: true,
  terminating: false,
  nodeName: undefined,
  zone: undefined,
  zoneHints: [],
  nodeHints: [],
};

describe('validateEndpointSlice', () => {
  it('defaults conditions as upstream kube-proxy: ready and serving unset = true, terminating unset = false', () => {
    const spec = valid(validateEndpointSlice(slice({ ports: [{ port: 8080 }] }), 'a.yaml'));
    assert.deepEqual(spec, {
      namespace: 'shop',
      name: 'web-abc12',
      serviceName: 'web',
      addressType: 'IPv4',
      ports: [{ name: '', protocol: 'TCP', port: 8080 }],
      endpoints: [{ addresses: ['10.1.0.5'], ...readyEndpoint, hostname: undefined }],
      legacy: false,
    });
  });

  it('reads serving unset as true even for a not-ready endpoint, as upstream endpointslicecache does', () => {
    const endpoint = { addresses: ['10.1.0.6'], conditions: { ready: false, terminating: true } };
    const [read] = valid(validateEndpointSlice(slice({ endpoints: [endpoint] }), 'a.yaml')).endpoints;
    assert.deepEqual([read?.ready, read?.serving, read?.terminating], [false, true, true]);
  });

  it('keeps given conditions, node, zone and hostname', () => {
    const endpoint = {
      addresses: ['10.1.0.6'],
      conditions: { ready: false, serving: true, terminating: true },
      nodeName: 'node-a.example',
      zone: 'zone-1',
      hostname: 'web-0',
    };
    const spec = valid(validateEndpointSlice(slice({ endpoints: [endpoint] }), 'a.yaml'));
    assert.deepEqual(spec.endpoints, [
      {
        addresses: ['10.1.0.6'],
        ready: false,
        serving: true,
        terminating: true,
        nodeName: 'node-a.example',
        zone: 'zone-1',
        hostname: 'web-0',
        zoneHints: [],
        nodeHints: [],
      },
    ]);
  });

  it('sorts endpoints by address and ports by name, whatever the input order', () => {
    const spec = valid(
      validateEndpointSlice(
        slice({
          ports: [
            { name: 'metrics', port: 9090 },
            { name: 'dns', port: 53, protocol: 'UDP' },
          ],
          endpoints: [{ addresses: ['10.1.0.10'] }, { addresses: ['10.1.0.9'] }],
        }),
        'a.yaml',
      ),
    );
    assert.deepEqual(
      spec.endpoints.map((e) => e.addresses[0]),
      ['10.1.0.9', '10.1.0.10'],
    );
    assert.deepEqual(
      spec.ports.map((p) => p.name),
      ['dns', 'metrics'],
    );
  });

  it('drops a port without a number, as upstream ignores it', () => {
    const spec = valid(
      validateEndpointSlice(slice({ ports: [{ name: 'http' }, { name: 'https', port: 8443 }] }), 'a'),
    );
    assert.deepEqual(spec.ports, [{ name: 'https', protocol: 'TCP', port: 8443 }]);
  });

  it('keeps IPv6 slices, with canonical addresses', () => {
    const spec = valid(
      validateEndpointSlice(slice({ addressType: 'IPv6', endpoints: [{ addresses: ['FD00::0005'] }] }), 'a'),
    );
    assert.equal(spec.addressType, 'IPv6');
    assert.deepEqual(spec.endpoints[0]?.addresses, ['fd00::5']);
  });

  it('reads topology hints (hints.forZones, hints.forNodes) sorted, and none as empty lists', () => {
    const hinted = {
      addresses: ['10.1.0.6'],
      hints: { forZones: [{ name: 'zone-b' }, { name: 'zone-a' }], forNodes: [{ name: 'node-1.example' }] },
    };
    const zonesOnly = { addresses: ['10.1.0.7'], hints: { forZones: [{ name: 'zone-a' }] } };
    const spec = valid(
      validateEndpointSlice(slice({ endpoints: [hinted, zonesOnly, { addresses: ['10.1.0.5'] }] }), 'a.yaml'),
    );
    assert.deepEqual(
      spec.endpoints.map((e) => [e.addresses[0], e.zoneHints, e.nodeHints]),
      [
        ['10.1.0.5', [], []],
        ['10.1.0.6', ['zone-a', 'zone-b'], ['node-1.example']],
        ['10.1.0.7', ['zone-a'], []],
      ],
    );
  });

  it('drops a bad hint list, keeping the slice, and names the field in a problem', () => {
    const nine = Array.from({ length: 9 }, (_, i) => ({ name: `zone-${i}` }));
    const endpoints = [
      { addresses: ['10.1.0.5'], hints: { forZones: [{ name: 'zone a' }], forNodes: [{ name: 'node-1' }] } },
      { addresses: ['10.1.0.6'], hints: { forZones: nine } },
      { addresses: ['10.1.0.7'], hints: { forNodes: [{ name: 'n1' }, { name: 'n1' }], forZones: [{}] } },
      { addresses: ['10.1.0.8'], hints: 'zone-a' },
    ];
    const result = validateEndpointSlice(slice({ endpoints }), 'a.yaml');
    assert.ok(result.ok === true, JSON.stringify(result));
    assert.deepEqual(
      result.value.endpoints.map((e) => [e.addresses[0], e.zoneHints, e.nodeHints]),
      [
        ['10.1.0.5', [], ['node-1']],
        ['10.1.0.6', [], []],
        ['10.1.0.7', [], []],
        ['10.1.0.8', [], []],
      ],
    );
    assert.deepEqual(result.problems?.map(formatProblem), [
      'a.yaml: EndpointSlice shop/web-abc12: endpoints[0].hints.forZones[0].name: not a label value: "zone a"',
      'a.yaml: EndpointSlice shop/web-abc12: endpoints[1].hints.forZones: must hold at most 8 entries, got 9',
      'a.yaml: EndpointSlice shop/web-abc12: endpoints[2].hints.forZones[0].name: required',
      'a.yaml: EndpointSlice shop/web-abc12: endpoints[2].hints.forNodes[1].name: duplicate "n1"',
      'a.yaml: EndpointSlice shop/web-abc12: endpoints[3].hints: must be a mapping, got "zone-a"',
    ]);
  });

  it('reports a bad hint beside the problems that reject the slice', () => {
    const endpoints = [{ addresses: ['x'], hints: { forZones: [{ name: '-' }] } }];
    assert.deepEqual(problems(validateEndpointSlice(slice({ endpoints }), 'a.yaml')), [
      'a.yaml: EndpointSlice shop/web-abc12: endpoints[0].addresses[0]: not an IP address: "x"',
      'a.yaml: EndpointSlice shop/web-abc12: endpoints[0].hints.forZones[0].name: not a label value: "-"',
    ]);
  });

  it('accepts a slice with no endpoints (a service with no ready pods)', () => {
    assert.deepEqual(valid(validateEndpointSlice(slice({ endpoints: null }), 'a')).endpoints, []);
  });

  describe('skips slices a proxy does not serve, without an error', () => {
    const cases: [string, unknown, string][] = [
      ['FQDN', slice({ addressType: 'FQDN', endpoints: [{ addresses: ['db.example.com'] }] }), 'FQDN'],
      [
        'another service proxy',
        slice({}, { 'service.kubernetes.io/service-proxy-name': 'x' }),
        'service-proxy-name',
      ],
      ['headless', slice({}, { 'service.kubernetes.io/headless': '' }), 'service.kubernetes.io/headless'],
    ];
    for (const [name, obj, reason] of cases) {
      it(name, () => {
        const result = validateEndpointSlice(obj, 'a.yaml');
        assert.equal(result.ok, 'skipped');
        assert.match((result as { reason: string }).reason, new RegExp(reason));
      });
    }
  });

  describe('reports bad input with the exact field', () => {
    const cases: [string, unknown, string[]][] = [
      [
        'missing service-name label',
        slice({}, { 'kubernetes.io/service-name': undefined }),
        [
          'a.yaml: EndpointSlice shop/web-abc12: metadata.labels["kubernetes.io/service-name"]: required: the name of the service this slice belongs to',
        ],
      ],
      [
        'unknown addressType',
        slice({ addressType: 'IPv5' }),
        ['a.yaml: EndpointSlice shop/web-abc12: addressType: must be IPv4, IPv6 or FQDN, got "IPv5"'],
      ],
      [
        'missing addressType',
        slice({ addressType: undefined }),
        ['a.yaml: EndpointSlice shop/web-abc12: addressType: required'],
      ],
      [
        'address of the other family',
        slice({ endpoints: [{ addresses: ['fd00::5'] }] }),
        [
          'a.yaml: EndpointSlice shop/web-abc12: endpoints[0].addresses[0]: IPv6 address "fd00::5" in a slice of addressType IPv4',
        ],
      ],
      [
        'address that is not an IP',
        slice({ endpoints: [{ addresses: ['10.1.0.500'] }] }),
        ['a.yaml: EndpointSlice shop/web-abc12: endpoints[0].addresses[0]: not an IP address: "10.1.0.500"'],
      ],
      [
        'endpoint without addresses',
        slice({ endpoints: [{ addresses: [] }] }),
        ['a.yaml: EndpointSlice shop/web-abc12: endpoints[0].addresses: required: at least one address'],
      ],
      [
        'condition that is not a boolean',
        slice({ endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: 'yes' } }] }),
        [
          'a.yaml: EndpointSlice shop/web-abc12: endpoints[0].conditions.ready: must be true or false, got "yes"',
        ],
      ],
      [
        'port out of range',
        slice({ ports: [{ name: 'http', port: 65536 }] }),
        ['a.yaml: EndpointSlice shop/web-abc12: ports[0].port: must be 1-65535, got 65536'],
      ],
      [
        'unknown protocol',
        slice({ ports: [{ name: 'http', port: 80, protocol: 'QUIC' }] }),
        ['a.yaml: EndpointSlice shop/web-abc12: ports[0].protocol: must be TCP, UDP or SCTP, got "QUIC"'],
      ],
      [
        'duplicate port names',
        slice({
          ports: [
            { name: 'http', port: 80 },
            { name: 'http', port: 81 },
          ],
        }),
        ['a.yaml: EndpointSlice shop/web-abc12: ports[1].name: duplicate name "http" (also ports[0])'],
      ],
      [
        'bad node name',
        slice({ endpoints: [{ addresses: ['10.1.0.5'], nodeName: 'Node_A' }] }),
        ['a.yaml: EndpointSlice shop/web-abc12: endpoints[0].nodeName: not a DNS-1123 subdomain: "Node_A"'],
      ],
      [
        'bad slice name',
        slice({ metadata: { name: 'web/1', labels: { 'kubernetes.io/service-name': 'web' } } }),
        ['a.yaml: EndpointSlice default/"web/1": metadata.name: not a DNS-1123 subdomain: "web/1"'],
      ],
    ];
    for (const [name, obj, expected] of cases) {
      it(name, () => {
        assert.deepEqual(problems(validateEndpointSlice(obj, 'a.yaml')), expected);
      });
    }
  });
});

describe('validateEndpoints (legacy core/v1)', () => {
  it('converts ready and not-ready addresses to one slice', () => {
    const result = validateEndpoints(
      endpoints([
        {
          addresses: [{ ip: '10.1.0.6', nodeName: 'node-b', hostname: 'web-1' }, { ip: '10.1.0.5' }],
          notReadyAddresses: [{ ip: '10.1.0.7' }],
          ports: [{ port: 8080 }],
        },
      ]),
      'a.yaml',
    );
    assert.deepEqual(valid(result), [
      {
        namespace: 'shop',
        name: 'web',
        serviceName: 'web',
        addressType: 'IPv4',
        ports: [{ name: '', protocol: 'TCP', port: 8080 }],
        endpoints: [
          { addresses: ['10.1.0.5'], ...readyEndpoint, hostname: undefined },
          { addresses: ['10.1.0.6'], ...readyEndpoint, nodeName: 'node-b', hostname: 'web-1' },
          { addresses: ['10.1.0.7'], ...readyEndpoint, ready: false, serving: false, hostname: undefined },
        ],
        legacy: true,
      },
    ]);
  });

  it('gives one slice per family, <name> for IPv4 and <name>-ipv6 for IPv6', () => {
    const result = validateEndpoints(
      endpoints([
        { addresses: [{ ip: 'fd00::5' }, { ip: '10.1.0.5' }], ports: [{ name: 'http', port: 8080 }] },
      ]),
      'a.yaml',
    );
    const slices = valid(result);
    assert.deepEqual(
      slices.map((s) => [s.name, s.addressType, s.endpoints.map((e) => e.addresses[0])]),
      [
        ['web', 'IPv4', ['10.1.0.5']],
        ['web-ipv6', 'IPv6', ['fd00::5']],
      ],
    );
  });

  it('names an IPv6-only slice <name>', () => {
    const slices = valid(
      validateEndpoints(endpoints([{ addresses: [{ ip: 'fd00::5' }], ports: [{ port: 80 }] }]), 'a'),
    );
    assert.deepEqual(
      slices.map((s) => [s.name, s.addressType]),
      [['web', 'IPv6']],
    );
  });

  it('keeps subsets with different port lists apart (-2 suffix), as a slice has one port list', () => {
    const slices = valid(
      validateEndpoints(
        endpoints([
          { addresses: [{ ip: '10.1.0.5' }], ports: [{ name: 'http', port: 8080 }] },
          { addresses: [{ ip: '10.1.0.6' }], ports: [{ name: 'http', port: 8081 }] },
          { addresses: [{ ip: '10.1.0.7' }], ports: [{ name: 'http', port: 8080 }] },
        ]),
        'a',
      ),
    );
    assert.deepEqual(
      slices.map((s: EndpointSliceSpec) => [
        s.name,
        s.ports[0]?.port,
        s.endpoints.map((e) => e.addresses[0]),
      ]),
      [
        ['web', 8080, ['10.1.0.5', '10.1.0.7']],
        ['web-2', 8081, ['10.1.0.6']],
      ],
    );
  });

  it('gives no slice for an Endpoints object without addresses', () => {
    assert.deepEqual(valid(validateEndpoints(endpoints(undefined), 'a')), []);
  });

  it('skips Endpoints of a headless service', () => {
    const result = validateEndpoints(endpoints([], { 'service.kubernetes.io/headless': '' }), 'a');
    assert.equal(result.ok, 'skipped');
  });

  describe('reports bad input with the exact field', () => {
    const cases: [string, unknown, string[]][] = [
      [
        'address that is not an IP',
        endpoints([{ addresses: [{ ip: 'x' }], ports: [{ port: 80 }] }]),
        ['a.yaml: Endpoints shop/web: subsets[0].addresses[0].ip: not an IP address: "x"'],
      ],
      [
        'address without ip',
        endpoints([{ notReadyAddresses: [{ nodeName: 'n' }], ports: [{ port: 80 }] }]),
        ['a.yaml: Endpoints shop/web: subsets[0].notReadyAddresses[0].ip: required'],
      ],
      [
        'port without number',
        endpoints([{ addresses: [{ ip: '10.1.0.5' }], ports: [{ name: 'http' }] }]),
        ['a.yaml: Endpoints shop/web: subsets[0].ports[0].port: required'],
      ],
      [
        'unnamed port of several',
        endpoints([{ addresses: [{ ip: '10.1.0.5' }], ports: [{ port: 80 }, { name: 'b', port: 81 }] }]),
        [
          'a.yaml: Endpoints shop/web: subsets[0].ports[0].name: required when the subset has more than one port',
        ],
      ],
    ];
    for (const [name, obj, expected] of cases) {
      it(name, () => {
        assert.deepEqual(problems(validateEndpoints(obj, 'a.yaml')), expected);
      });
    }
  });
});

describe('the last-change-trigger-time annotation', () => {
  const annotated = (value: string, make: 'slice' | 'endpoints' = 'slice'): unknown => {
    const base = (
      make === 'slice' ? slice() : endpoints([{ addresses: [{ ip: '10.1.0.5' }], ports: [{ port: 8080 }] }])
    ) as { metadata: Record<string, unknown> };
    return { ...base, metadata: { ...base.metadata, annotations: { [LAST_CHANGE_TRIGGER_TIME]: value } } };
  };

  it('is read as epoch ms, with its fraction and offset, on slices and legacy Endpoints', () => {
    const at = Date.UTC(2025, 0, 2, 3, 4, 5, 500);
    assert.equal(
      valid(validateEndpointSlice(annotated('2025-01-02T03:04:05.5Z'), 'a.yaml')).lastChangeTriggerTime,
      at,
    );
    const legacy = valid(
      validateEndpoints(annotated('2025-01-02T04:04:05.500000000+01:00', 'endpoints'), 'a.yaml'),
    );
    assert.deepEqual(
      legacy.map((s) => s.lastChangeTriggerTime),
      [at],
    );
  });

  it('is absent from the value when the object has none', () => {
    assert.equal('lastChangeTriggerTime' in valid(validateEndpointSlice(slice(), 'a.yaml')), false);
  });

  it('a bad value is a problem naming the field; the object is kept without it', () => {
    for (const make of ['slice', 'endpoints'] as const) {
      const obj = annotated('yesterday', make);
      const result =
        make === 'slice' ? validateEndpointSlice(obj, 'a.yaml') : validateEndpoints(obj, 'a.yaml');
      assert.ok(result.ok === true, JSON.stringify(result));
      const kept = Array.isArray(result.value) ? result.value[0] : result.value;
      assert.equal(kept?.lastChangeTriggerTime, undefined);
      const kind = make === 'slice' ? 'EndpointSlice shop/web-abc12' : 'Endpoints shop/web';
      assert.deepEqual(result.problems?.map(formatProblem), [
        `a.yaml: ${kind}: metadata.annotations["endpoints.kubernetes.io/last-change-trigger-time"]: not an RFC 3339 time: "yesterday"`,
      ]);
    }
  });

  it('parses as Go time.Parse(time.RFC3339Nano) does', () => {
    const cases: [string, number | undefined][] = [
      ['2025-01-02T03:04:05Z', Date.UTC(2025, 0, 2, 3, 4, 5)],
      ['2025-01-02T03:04:05.123456789Z', Date.UTC(2025, 0, 2, 3, 4, 5) + 123.456789],
      ['2025-01-02T03:04:05-02:30', Date.UTC(2025, 0, 2, 5, 34, 5)],
      ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
      ['2025-02-29T00:00:00Z', undefined],
      ['2025-01-02T24:00:00Z', undefined],
      ['2025-01-02T23:59:60Z', undefined],
      ['2025-01-02T03:04:05', undefined],
      ['2025-01-02 03:04:05Z', undefined],
      ['2025-01-02T03:04:05.Z', undefined],
      ['2025-01-02T03:04:05.1234567890Z', undefined],
      ['1735787045', undefined],
      ['', undefined],
    ];
    for (const [text, expected] of cases) assert.equal(parseRfc3339(text), expected, text);
  });
});
