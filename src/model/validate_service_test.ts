import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProblem } from './problem.ts';
import type { ServiceSpec } from './types.ts';
import { validateService } from './validate_service.ts';
import type { Validated } from './validated.ts';

/** A valid ClusterIP service `shop/web` with `spec` merged over one unnamed port 80. */
function service(spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'shop', ...metadata },
    spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }], ...spec },
  };
}

function valid(result: Validated<ServiceSpec>): ServiceSpec {
  assert.ok(result.ok === true, JSON.stringify(result));
  return result.value;
}

function problems(result: Validated<ServiceSpec>): string[] {
  assert.equal(result.ok, false, JSON.stringify(result));
  return result.ok === false ? result.problems.map(formatProblem) : [];
}

describe('validateService', () => {
  it('applies the API defaults to a minimal service', () => {
    const obj = {
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] },
    };
    assert.deepEqual(valid(validateService(obj, 'a.yaml')), {
      namespace: 'default',
      name: 'web',
      type: 'ClusterIP',
      clusterIPs: ['10.96.0.10'],
      ipFamilies: ['IPv4'],
      ports: [{ name: '', protocol: 'TCP', port: 80, targetPort: 80, nodePort: 0 }],
      externalIPs: [],
      loadBalancerIPs: [],
      loadBalancerSourceRanges: [],
      sessionAffinity: { type: 'None' },
      externalTrafficPolicy: 'Cluster',
      internalTrafficPolicy: 'Cluster',
      healthCheckNodePort: 0,
      annotations: {},
      trafficDistribution: undefined,
    });
  });

  it('reads spec.trafficDistribution: PreferClose, PreferSameZone and PreferSameNode', () => {
    for (const value of ['PreferClose', 'PreferSameZone', 'PreferSameNode'] as const) {
      assert.equal(
        valid(validateService(service({ trafficDistribution: value }), 'a.yaml')).trafficDistribution,
        value,
      );
    }
    assert.equal(
      valid(validateService(service({ trafficDistribution: null }), 'a.yaml')).trafficDistribution,
      undefined,
    );
  });

  it('keeps a service with a bad spec.trafficDistribution, without it, and names the field in a problem', () => {
    const result = validateService(service({ trafficDistribution: 'PreferNearby' }), 'a.yaml');
    assert.ok(result.ok === true, JSON.stringify(result));
    assert.equal(result.value.trafficDistribution, undefined);
    assert.deepEqual(result.problems?.map(formatProblem), [
      'a.yaml: Service shop/web: spec.trafficDistribution: must be PreferClose, PreferSameZone or PreferSameNode, got "PreferNearby"',
    ]);
    assert.deepEqual(problems(validateService(service({ trafficDistribution: 1, type: 'Bad' }), 'a.yaml')), [
      'a.yaml: Service shop/web: spec.type: must be ClusterIP, NodePort, LoadBalancer or ExternalName, got "Bad"',
      'a.yaml: Service shop/web: spec.trafficDistribution: must be a string, got 1',
    ]);
  });

  it('defaults the ClientIP affinity timeout to 10800 s and keeps a given one', () => {
    assert.deepEqual(
      valid(validateService(service({ sessionAffinity: 'ClientIP' }), 'a.yaml')).sessionAffinity,
      {
        type: 'ClientIP',
        timeoutSeconds: 10800,
      },
    );
    const config = {
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
    };
    assert.deepEqual(valid(validateService(service(config), 'a.yaml')).sessionAffinity, {
      type: 'ClientIP',
      timeoutSeconds: 60,
    });
  });

  it('keeps named target ports, node ports and port order', () => {
    const spec = valid(
      validateService(
        service({
          type: 'NodePort',
          ports: [
            { name: 'https', port: 443, targetPort: 'https', nodePort: 30443 },
            { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 },
          ],
        }),
        'a.yaml',
      ),
    );
    assert.deepEqual(spec.ports, [
      { name: 'https', protocol: 'TCP', port: 443, targetPort: 'https', nodePort: 30443 },
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 30053 },
    ]);
  });

  it('keeps both families of a dual-stack service, primary first, IPv6 in canonical form', () => {
    const spec = valid(
      validateService(
        service({
          clusterIP: 'FD00:10:96::000A',
          clusterIPs: ['FD00:10:96::000A', '10.96.0.10'],
          ipFamilies: ['IPv6', 'IPv4'],
          externalIPs: ['2001:db8::7', '192.0.2.7'],
        }),
        'a.yaml',
      ),
    );
    assert.deepEqual(spec.clusterIPs, ['fd00:10:96::a', '10.96.0.10']);
    assert.deepEqual(spec.ipFamilies, ['IPv6', 'IPv4']);
    assert.deepEqual(spec.externalIPs, ['192.0.2.7', '2001:db8::7']);
  });

  it('sorts external IPs, ingress IPs and source ranges, and masks host bits of ranges', () => {
    const obj = service({
      type: 'LoadBalancer',
      externalIPs: ['192.0.2.20', '192.0.2.3'],
      loadBalancerSourceRanges: ['198.51.100.77/24', ' 10.0.0.0/8'],
    }) as Record<string, unknown>;
    obj['status'] = {
      loadBalancer: {
        ingress: [
          { ip: '203.0.113.9' },
          { hostname: 'lb.example.com' },
          { ip: '203.0.113.8', ipMode: 'VIP' },
          { ip: '203.0.113.7', ipMode: 'Proxy' },
        ],
      },
    };
    const spec = valid(validateService(obj, 'a.yaml'));
    assert.deepEqual(spec.externalIPs, ['192.0.2.3', '192.0.2.20']);
    assert.deepEqual(spec.loadBalancerIPs, ['203.0.113.8', '203.0.113.9']);
    assert.deepEqual(spec.loadBalancerSourceRanges, ['10.0.0.0/8', '198.51.100.0/24']);
  });

  it('reads externalTrafficPolicy Local only for services reachable from outside, as upstream', () => {
    const local = { externalTrafficPolicy: 'Local', healthCheckNodePort: 32000 };
    const clusterIP = valid(validateService(service(local), 'a.yaml'));
    assert.equal(clusterIP.externalTrafficPolicy, 'Cluster');
    assert.equal(clusterIP.healthCheckNodePort, 0);
    const withExternalIP = valid(
      validateService(service({ ...local, externalIPs: ['192.0.2.1'] }), 'a.yaml'),
    );
    assert.equal(withExternalIP.externalTrafficPolicy, 'Local');
    assert.equal(withExternalIP.healthCheckNodePort, 0, 'only a LoadBalancer has a health check node port');
    const lb = valid(validateService(service({ ...local, type: 'LoadBalancer' }), 'a.yaml'));
    assert.equal(lb.externalTrafficPolicy, 'Local');
    assert.equal(lb.healthCheckNodePort, 32000);
    const itp = valid(validateService(service({ internalTrafficPolicy: 'Local' }), 'a.yaml'));
    assert.equal(itp.internalTrafficPolicy, 'Local');
  });

  it('keeps annotations except kubectl last-applied-configuration', () => {
    const annotations = {
      'example.com/team': 'shop',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
    };
    const spec = valid(validateService(service({}, { annotations }), 'a.yaml'));
    assert.deepEqual(spec.annotations, { 'example.com/team': 'shop' });
  });

  it('treats null fields as absent (YAML `field:` and informer objects)', () => {
    const spec = valid(
      validateService(
        service({ type: null, externalIPs: null, ports: [{ port: 80, targetPort: null, protocol: null }] }),
        'a.yaml',
      ),
    );
    assert.equal(spec.type, 'ClusterIP');
    assert.deepEqual(spec.ports, [{ name: '', protocol: 'TCP', port: 80, targetPort: 80, nodePort: 0 }]);
  });

  describe('skips services a proxy does not serve, without an error', () => {
    const cases: [string, unknown, string][] = [
      [
        'ExternalName',
        service({ type: 'ExternalName', clusterIP: '', externalName: 'db.example.com' }),
        'ExternalName',
      ],
      ['headless', service({ clusterIP: 'None' }), 'headless'],
      ['no cluster IP', service({ clusterIP: undefined }), 'no clusterIP'],
      ['empty cluster IP', service({ clusterIP: '' }), 'no clusterIP'],
      [
        'another service proxy',
        service({}, { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } }),
        'service.kubernetes.io/service-proxy-name',
      ],
    ];
    for (const [name, obj, reason] of cases) {
      it(name, () => {
        const result = validateService(obj, 'a.yaml');
        assert.equal(result.ok, 'skipped');
        assert.match((result as { reason: string }).reason, new RegExp(reason));
      });
    }
  });

  describe('reports bad input with the exact field', () => {
    const cases: [string, unknown, string[]][] = [
      ['not a mapping', 'web', ['a.yaml: Service: not a mapping: got "web"']],
      ['missing name', service({}, { name: undefined }), ['a.yaml: Service shop/: metadata.name: required']],
      [
        'bad name',
        service({}, { name: 'Web_1' }),
        ['a.yaml: Service shop/"Web_1": metadata.name: not a DNS-1123 label: "Web_1"'],
      ],
      [
        'bad namespace',
        service({}, { namespace: 'Shop' }),
        ['a.yaml: Service "Shop"/web: metadata.namespace: not a DNS-1123 label: "Shop"'],
      ],
      [
        'unknown type',
        service({ type: 'Ingress' }),
        [
          'a.yaml: Service shop/web: spec.type: must be ClusterIP, NodePort, LoadBalancer or ExternalName, got "Ingress"',
        ],
      ],
      [
        'cluster IP that is not an IP',
        service({ clusterIP: '10.96.0.300' }),
        ['a.yaml: Service shop/web: spec.clusterIP: not an IP address: "10.96.0.300"'],
      ],
      [
        'clusterIPs[0] differs from clusterIP',
        service({ clusterIPs: ['10.96.0.11'] }),
        [
          'a.yaml: Service shop/web: spec.clusterIPs[0]: must equal spec.clusterIP "10.96.0.10", got "10.96.0.11"',
        ],
      ],
      [
        'two cluster IPs of one family',
        service({ clusterIPs: ['10.96.0.10', '10.96.0.11'] }),
        [
          'a.yaml: Service shop/web: spec.clusterIPs[1]: must be of the other IP family than spec.clusterIPs[0], got IPv4',
        ],
      ],
      [
        'ipFamilies that contradict the IPs',
        service({ ipFamilies: ['IPv6'] }),
        ['a.yaml: Service shop/web: spec.ipFamilies[0]: IPv6 does not match spec.clusterIP "10.96.0.10"'],
      ],
      [
        'more ipFamilies than IPs',
        service({ ipFamilies: ['IPv4', 'IPv6'] }),
        ['a.yaml: Service shop/web: spec.ipFamilies: must match the 1 cluster IP(s), got 2 families'],
      ],
      [
        'no ports',
        service({ ports: [] }),
        ['a.yaml: Service shop/web: spec.ports: required: a proxied service needs at least one port'],
      ],
      [
        'port out of range',
        service({
          ports: [
            { name: 'a', port: 80 },
            { name: 'b', port: 70000 },
          ],
        }),
        ['a.yaml: Service shop/web: spec.ports[1].port: must be 1-65535, got 70000'],
      ],
      [
        'port that is not an integer',
        service({ ports: [{ port: '80' }] }),
        ['a.yaml: Service shop/web: spec.ports[0].port: must be an integer, got "80"'],
      ],
      [
        'missing port',
        service({ ports: [{ targetPort: 8080 }] }),
        ['a.yaml: Service shop/web: spec.ports[0].port: required'],
      ],
      [
        'target port out of range',
        service({ ports: [{ port: 80, targetPort: 65536 }] }),
        ['a.yaml: Service shop/web: spec.ports[0].targetPort: must be 1-65535, got 65536'],
      ],
      [
        'named target port that is not an IANA_SVC_NAME',
        service({ ports: [{ port: 80, targetPort: 'http--alt' }] }),
        ['a.yaml: Service shop/web: spec.ports[0].targetPort: not a port name (IANA_SVC_NAME): "http--alt"'],
      ],
      [
        'quoted numeric target port',
        service({ ports: [{ port: 80, targetPort: '8080' }] }),
        [
          'a.yaml: Service shop/web: spec.ports[0].targetPort: not a port name (IANA_SVC_NAME): "8080" (a quoted number is a port name; write it unquoted)',
        ],
      ],
      [
        'node port out of range',
        service({ type: 'NodePort', ports: [{ port: 80, nodePort: 0.5 }] }),
        ['a.yaml: Service shop/web: spec.ports[0].nodePort: must be an integer, got 0.5'],
      ],
      [
        'node port on a ClusterIP service',
        service({ ports: [{ port: 80, nodePort: 30080 }] }),
        ['a.yaml: Service shop/web: spec.ports[0].nodePort: may not be set when spec.type is ClusterIP'],
      ],
      [
        'unknown protocol',
        service({ ports: [{ port: 80, protocol: 'ICMP' }] }),
        ['a.yaml: Service shop/web: spec.ports[0].protocol: must be TCP, UDP or SCTP, got "ICMP"'],
      ],
      [
        'duplicate port names',
        service({
          ports: [
            { name: 'http', port: 80 },
            { name: 'http', port: 8080 },
          ],
        }),
        ['a.yaml: Service shop/web: spec.ports[1].name: duplicate name "http" (also spec.ports[0])'],
      ],
      [
        'duplicate port and protocol',
        service({
          ports: [
            { name: 'a', port: 80 },
            { name: 'b', port: 80, protocol: 'TCP' },
          ],
        }),
        ['a.yaml: Service shop/web: spec.ports[1]: duplicate port 80/TCP (also spec.ports[0])'],
      ],
      [
        'unnamed port of a multi-port service',
        service({ ports: [{ name: 'http', port: 80 }, { port: 443 }] }),
        ['a.yaml: Service shop/web: spec.ports[1].name: required when the service has more than one port'],
      ],
      [
        'bad port name',
        service({ ports: [{ name: 'HTTP', port: 80 }] }),
        ['a.yaml: Service shop/web: spec.ports[0].name: not a DNS-1123 label: "HTTP"'],
      ],
      [
        'external IP that is not an IP',
        service({ externalIPs: ['192.0.2.1', 'example.com'] }),
        ['a.yaml: Service shop/web: spec.externalIPs[1]: not an IP address: "example.com"'],
      ],
      [
        'load balancer ingress IP that is not an IP',
        {
          ...(service({ type: 'LoadBalancer' }) as object),
          status: { loadBalancer: { ingress: [{ ip: '203.0.113' }] } },
        },
        ['a.yaml: Service shop/web: status.loadBalancer.ingress[0].ip: not an IP address: "203.0.113"'],
      ],
      [
        'source range that is not a CIDR',
        service({ type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/33', '10.0.0.1'] }),
        [
          'a.yaml: Service shop/web: spec.loadBalancerSourceRanges[0]: not a CIDR: "10.0.0.0/33"',
          'a.yaml: Service shop/web: spec.loadBalancerSourceRanges[1]: not a CIDR: "10.0.0.1"',
        ],
      ],
      [
        'health check node port out of range',
        service({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 65536 }),
        ['a.yaml: Service shop/web: spec.healthCheckNodePort: must be 1-65535, got 65536'],
      ],
      [
        'ClientIP timeout out of range',
        service({
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } },
        }),
        [
          'a.yaml: Service shop/web: spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be 1-86400, got 86401',
        ],
      ],
      [
        'unknown session affinity',
        service({ sessionAffinity: 'Cookie' }),
        ['a.yaml: Service shop/web: spec.sessionAffinity: must be None or ClientIP, got "Cookie"'],
      ],
      [
        'externalTrafficPolicy Global (an annotation value, never a field value)',
        service({ externalTrafficPolicy: 'Global' }),
        [
          'a.yaml: Service shop/web: spec.externalTrafficPolicy: must be Cluster or Local, got "Global" (a value of the removed beta annotation)',
        ],
      ],
      [
        'unknown internalTrafficPolicy',
        service({ internalTrafficPolicy: 'Node' }),
        ['a.yaml: Service shop/web: spec.internalTrafficPolicy: must be Cluster or Local, got "Node"'],
      ],
      [
        'ports that are not a list',
        service({ ports: { port: 80 } }),
        [
          'a.yaml: Service shop/web: spec.ports: must be a list, got a mapping',
          'a.yaml: Service shop/web: spec.ports: required: a proxied service needs at least one port',
        ],
      ],
      [
        'an annotation that is not a string',
        service({}, { annotations: { replicas: 3 } }),
        ['a.yaml: Service shop/web: metadata.annotations["replicas"]: must be a string, got 3'],
      ],
    ];
    for (const [name, obj, expected] of cases) {
      it(name, () => {
        assert.deepEqual(problems(validateService(obj, 'a.yaml')), expected);
      });
    }
  });

  it('reports every problem of an object, not only the first', () => {
    const obj = service(
      {
        externalIPs: ['x'],
        ports: [
          { name: 'a', port: 0 },
          { name: 'a', port: 80, protocol: 'tcp' },
        ],
      },
      { namespace: 'Bad' },
    );
    assert.deepEqual(problems(validateService(obj, undefined)), [
      'Service "Bad"/web: metadata.namespace: not a DNS-1123 label: "Bad"',
      'Service "Bad"/web: spec.ports[0].port: must be 1-65535, got 0',
      'Service "Bad"/web: spec.ports[1].name: duplicate name "a" (also spec.ports[0])',
      'Service "Bad"/web: spec.ports[1].protocol: must be TCP, UDP or SCTP, got "tcp"',
      'Service "Bad"/web: spec.externalIPs[0]: not an IP address: "x"',
    ]);
  });

  it('escapes control characters of bad names in problems', () => {
    const [line] = problems(validateService(service({}, { name: 'web\nINFO forged' }), 'a.yaml'));
    assert.equal(
      line,
      'a.yaml: Service shop/"web\\nINFO forged": metadata.name: not a DNS-1123 label: "web\\nINFO forged"',
    );
  });
});
