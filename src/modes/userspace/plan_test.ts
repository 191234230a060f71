import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TracePacket } from '../../contracts/trace.ts';
import { bindProxyPorts, listenerId, type PlannedSocket, planUserspace } from './plan.ts';
import { renderPortalRestore, renderUserspaceRules } from './render.ts';
import { planOptions, proxyState, servicePort } from './testing/fixtures.ts';
import { traceUserspace } from './trace.ts';

// Addresses: VIPs 10.96.0.0/16, external IP 203.0.113.7, endpoints 10.1.0.0/16, node 192.168.0.10.
const state = proxyState([
  servicePort({ endpoints: ['10.1.0.1:8080', '10.1.0.2:8080'] }),
  servicePort({
    serviceName: 'dns',
    portName: 'dns',
    protocol: 'UDP',
    port: 53,
    clusterIPs: ['10.96.0.53'],
    endpoints: ['10.1.0.3:53'],
  }),
  servicePort({
    serviceName: 'shop',
    type: 'NodePort',
    nodePort: 30080,
    externalIPs: ['203.0.113.7'],
    clusterIPs: ['10.96.0.20'],
    endpoints: ['10.1.0.4:80'],
  }),
]);
const options = planOptions({ proxyPortRange: { from: 40000, to: 40010 } });

describe('userspace plan', () => {
  it('renders the portal chains as iptables-restore input (golden)', () => {
    const expected = `*nat
:KUBE-PORTALS-CONTAINER - [0:0]
:KUBE-PORTALS-HOST - [0:0]
:KUBE-NODEPORT-CONTAINER - [0:0]
:KUBE-NODEPORT-HOST - [0:0]
-A KUBE-PORTALS-CONTAINER -m comment --comment default/dns:dns -p udp -m udp --dport 53 -d 10.96.0.53/32 -j REDIRECT --to-ports 40000
-A KUBE-PORTALS-HOST -m comment --comment default/dns:dns -p udp -m udp --dport 53 -d 10.96.0.53/32 -j DNAT --to-destination 192.168.0.10:40000
-A KUBE-PORTALS-CONTAINER -m comment --comment default/shop:http -p tcp -m tcp --dport 80 -d 10.96.0.20/32 -j REDIRECT --to-ports 40000
-A KUBE-PORTALS-HOST -m comment --comment default/shop:http -p tcp -m tcp --dport 80 -d 10.96.0.20/32 -j DNAT --to-destination 192.168.0.10:40000
-A KUBE-PORTALS-CONTAINER -m comment --comment default/shop:http -p tcp -m tcp --dport 80 -d 203.0.113.7/32 -j REDIRECT --to-ports 40001
-A KUBE-PORTALS-HOST -m comment --comment default/shop:http -p tcp -m tcp --dport 80 -d 203.0.113.7/32 -m addrtype --dst-type LOCAL -j DNAT --to-destination 192.168.0.10:40001
-A KUBE-NODEPORT-CONTAINER -m comment --comment default/shop:http -p tcp -m tcp --dport 30080 -j REDIRECT --to-ports 40001
-A KUBE-NODEPORT-HOST -m comment --comment default/shop:http -p tcp -m tcp --dport 30080 -j DNAT --to-destination 192.168.0.10:40001
-A KUBE-PORTALS-CONTAINER -m comment --comment default/web:http -p tcp -m tcp --dport 80 -d 10.96.0.10/32 -j REDIRECT --to-ports 40002
-A KUBE-PORTALS-HOST -m comment --comment default/web:http -p tcp -m tcp --dport 80 -d 10.96.0.10/32 -j DNAT --to-destination 192.168.0.10:40002
COMMIT
*filter
:KUBE-NODEPORT-NON-LOCAL - [0:0]
:KUBE-PORTALS-GUARD - [0:0]
-A KUBE-NODEPORT-NON-LOCAL -m comment --comment default/shop:http -p tcp -m tcp --dport 40001 -m conntrack --ctstate NEW -j ACCEPT
-A KUBE-PORTALS-GUARD -m socket --nowildcard -j RETURN
-A KUBE-PORTALS-GUARD -m comment --comment default/dns:dns -p udp -m udp --dport 40000 -j DROP
-A KUBE-PORTALS-GUARD -m comment --comment default/shop:http -p tcp -m tcp --dport 40000 -j DROP
-A KUBE-PORTALS-GUARD -m comment --comment default/shop:http -p tcp -m tcp --dport 40001 -j DROP
-A KUBE-PORTALS-GUARD -m comment --comment default/web:http -p tcp -m tcp --dport 40002 -j DROP
COMMIT
`;
    assert.equal(renderPortalRestore(planUserspace(state, options)), expected);
  });

  it('prints the listener table and the jumps as comments before the restore input', () => {
    const text = renderUserspaceRules(planUserspace(state, options));
    assert.match(
      text,
      /^# {3}default\/shop:http\/TCP +external +40001 +203\.0\.113\.7:80 \(externalIP\), \*:30080 \(nodePort\) +10\.1\.0\.4:80$/m,
    );
    assert.match(text, /^# {3}-t nat -I PREROUTING 1 .* -j KUBE-PORTALS-CONTAINER$/m);
    assert.match(text, /^# {3}-t nat -A OUTPUT -m addrtype --dst-type LOCAL .* -j KUBE-NODEPORT-HOST$/m);
    assert.ok(text.endsWith(renderPortalRestore(planUserspace(state, options))));
  });

  it('is deterministic and names proxy ports chosen at run time PROXY_PORT_<n>, in the table and the rules', () => {
    const a = renderUserspaceRules(planUserspace(state, planOptions()));
    assert.equal(a, renderUserspaceRules(planUserspace(state, planOptions())));
    assert.doesNotMatch(a, /--to-ports 0$|:0$/m);
    // Listeners in plan order: dns (internal), shop (internal, external), web (internal).
    assert.match(a, /^# {3}default\/dns:dns\/UDP +internal +PROXY_PORT_1 /m);
    assert.match(a, /^# {3}default\/shop:http\/TCP +external +PROXY_PORT_3 /m);
    assert.match(a, /-d 10\.96\.0\.10\/32 -j REDIRECT --to-ports PROXY_PORT_4$/m);
    assert.match(a, /-j DNAT --to-destination 192\.168\.0\.10:PROXY_PORT_4$/m);
    assert.match(a, /^-A KUBE-NODEPORT-NON-LOCAL .* --dport PROXY_PORT_3 -m conntrack/m);
    assert.match(a, /PROXY_PORT_<n> is a free port chosen when kproxy starts/);
  });

  it('plans no rule with --userspace-portals off, and says the VIPs are listened on directly', () => {
    const plan = planUserspace(state, planOptions({ userspacePortals: 'off' }));
    assert.equal(plan.portals, 'off');
    assert.deepEqual(plan.rules, []);
    assert.equal(plan.servicePorts.length, 3);
    const text = renderUserspaceRules(plan);
    assert.match(text, /^# {3}default\/web:http\/TCP +internal +- +10\.96\.0\.10:80 \(clusterIP\)/m);
    assert.match(text, /kproxy installs no iptables rules/);
    assert.doesNotMatch(text, /^\*nat$|^-A |PROXY_PORT/m);
  });

  it('gives rules only to listeners that have a port, and uses the given allocation', () => {
    const web = state.servicePorts.get('default/web:http/TCP')!;
    const only = proxyState([web]);
    const plan = planUserspace(only, options, {
      proxyPorts: new Map([[listenerId(web.key, 'internal'), 41234]]),
    });
    assert.deepEqual(
      plan.rules.map((r) => r.target),
      [
        { kind: 'REDIRECT', toPort: 41234 },
        { kind: 'DNAT', toIP: '192.168.0.10', toPort: 41234 },
        { kind: 'DROP' },
      ],
    );
    assert.equal(planUserspace(only, options, { proxyPorts: new Map() }).rules.length, 0);
  });

  it('restricts node ports to --nodeport-addresses and REDIRECTs host traffic without a node IP', () => {
    const shop = state.servicePorts.get('default/shop:http/TCP')!;
    const plan = planUserspace(
      proxyState([shop]),
      planOptions({ nodeIPs: [], nodePortAddresses: ['192.168.0.0/24'] }),
    );
    const nodePortRules = plan.rules.filter((r) => r.chain.startsWith('KUBE-NODEPORT-') && r.table === 'nat');
    assert.deepEqual(
      nodePortRules.map((r) => [r.chain, r.destination, r.target.kind]),
      [
        ['KUBE-NODEPORT-CONTAINER', '192.168.0.0/24', 'REDIRECT'],
        ['KUBE-NODEPORT-HOST', '192.168.0.0/24', 'REDIRECT'],
      ],
    );
  });

  it('skips SCTP, and leaves an IPv6 service to the IPv6 plan, which gives it ip6tables rules', () => {
    const sctp = servicePort({ serviceName: 'sig', protocol: 'SCTP', endpoints: ['10.1.0.9:80'] });
    const v6 = servicePort({
      serviceName: 'six',
      clusterIPs: ['fd00::10'],
      ipFamilies: ['IPv6'],
      endpoints: ['[fd00::1]:80'],
    });
    const plan = planUserspace(proxyState([sctp, v6]), options);
    assert.deepEqual(plan.skipped, [
      { key: 'default/sig:http/SCTP', reason: 'SCTP is not supported by the userspace relay' },
    ]);
    assert.equal(plan.family, 'IPv4');
    assert.equal(plan.rules.length, 0);
    assert.deepEqual(plan.servicePorts, []);
    const plan6 = planUserspace(proxyState([v6]), planOptions({ ipFamily: 'IPv6', nodeIPs: ['fd00::a'] }));
    assert.equal(plan6.family, 'IPv6');
    assert.deepEqual(plan6.servicePorts[0]?.listeners[0]?.endpoints, ['[fd00::1]:80']);
    assert.deepEqual(
      plan6.rules.map((r) => [r.chain, r.destination, r.target]),
      [
        ['KUBE-PORTALS-CONTAINER', 'fd00::10/128', { kind: 'REDIRECT', toPort: 0 }],
        ['KUBE-PORTALS-HOST', 'fd00::10/128', { kind: 'DNAT', toIP: 'fd00::a', toPort: 0 }],
        ['KUBE-PORTALS-GUARD', undefined, { kind: 'DROP' }],
      ],
    );
  });

  it('keeps comments safe whatever the names hold', () => {
    const odd = servicePort({ serviceName: 'x" -j ACCEPT #', endpoints: [] });
    const text = renderPortalRestore(planUserspace(proxyState([odd]), options));
    assert.match(text, /--comment default\/x__-j_ACCEPT__:http /);
  });
});

describe('userspace plan: the sockets the Proxier opens (host facts as data)', () => {
  const v6 = servicePort({
    serviceName: 'six',
    clusterIPs: ['fd00::10', '::1'],
    ipFamilies: ['IPv6'],
    endpoints: ['[fd00::1]:80'],
  });
  const both = proxyState([...state.servicePorts.values(), v6]);
  const sockets = (plan: ReturnType<typeof planUserspace>): [string, number, boolean][] =>
    plan.servicePorts.flatMap((sp) =>
      sp.sockets.map((s: PlannedSocket): [string, number, boolean] => [s.id, s.port, s.proxy]),
    );

  it('with portal rules: one proxy socket per listener, on the family\u2019s any-address', () => {
    const host = { portals: true, localAddresses: [], proxyPorts: 'runtime' } as const;
    const plan = planUserspace(both, options, host);
    assert.equal(plan.rulesInstalled, true);
    assert.deepEqual(sockets(plan), [
      ['proxy|default/dns:dns/UDP|internal', 0, true],
      ['proxy|default/shop:http/TCP|internal', 0, true],
      ['proxy|default/shop:http/TCP|external', 0, true],
      ['proxy|default/web:http/TCP|internal', 0, true],
    ]);
    assert.ok(plan.servicePorts.every((sp) => sp.sockets.every((s) => s.host === '0.0.0.0')));
    const shop = plan.servicePorts.find((sp) => sp.key === 'default/shop:http/TCP')!;
    assert.deepEqual(
      shop.sockets[1]?.portals.map((p) => `${p.kind} ${p.ip}:${p.port}`),
      ['externalIP 203.0.113.7:80', 'nodePort undefined:30080'],
    );
    assert.deepEqual(plan.unreachable, []);
    const plan6 = planUserspace(both, planOptions({ ipFamily: 'IPv6' }), host);
    assert.deepEqual(
      plan6.servicePorts.flatMap((sp) => sp.sockets.map((s) => [s.id, s.host, s.portals.map((p) => p.ip)])),
      [['proxy|default/six:http/TCP|internal', '::', ['fd00::10', '::1']]],
    );
    assert.deepEqual(plan6.unreachable, []);
  });

  it('without portal rules: local portals listened on, node ports on every address, the rest unreachable', () => {
    const host = { portals: false, localAddresses: ['203.0.113.7', '::1'] } as const;
    const plan = planUserspace(both, options, host);
    assert.equal(plan.rulesInstalled, false);
    assert.deepEqual(plan.rules, []);
    assert.deepEqual(sockets(plan), [
      ['direct|default/shop:http/TCP|external|203.0.113.7:80', 80, false],
      ['direct|default/shop:http/TCP|external|0.0.0.0:30080', 30080, false],
    ]);
    assert.deepEqual(
      plan.unreachable.map((u) => `${u.key} ${u.portal.kind} ${u.portal.ip}`),
      [
        'default/dns:dns/UDP clusterIP 10.96.0.53',
        'default/shop:http/TCP clusterIP 10.96.0.20',
        'default/web:http/TCP clusterIP 10.96.0.10',
      ],
    );
    assert.match(plan.unreachable[0]!.reason, /no portal rules are installed \(needs root and iptables\)$/);
    const plan6 = planUserspace(both, planOptions({ ipFamily: 'IPv6' }), host);
    assert.deepEqual(sockets(plan6), [['direct|default/six:http/TCP|internal|::1:80', 80, false]]);
    assert.deepEqual(
      plan6.unreachable.map((u) => [u.portal.ip, u.reason]),
      [
        [
          'fd00::10',
          'it is not a local address and no portal rules are installed (needs root and ip6tables)',
        ],
      ],
    );
  });

  it('without portal rules, listens on a node port only at the local IPv4 addresses in --nodeport-addresses', () => {
    const shop = state.servicePorts.get('default/shop:http/TCP')!;
    const plan = planUserspace(
      proxyState([shop]),
      planOptions({ nodePortAddresses: ['192.168.0.0/24', 'fd00::/64'] }),
      { portals: false, localAddresses: ['192.168.0.11', '10.0.0.1', '192.168.0.10', 'fd00::5'] },
    );
    assert.deepEqual(
      plan.servicePorts[0]?.sockets.filter((s) => s.port === 30080).map((s) => s.host),
      ['192.168.0.10', '192.168.0.11'],
    );
  });

  it('plans the rules when the host has them installed, whatever --userspace-portals says', () => {
    const plan = planUserspace(state, planOptions({ userspacePortals: 'off' }), { portals: true });
    assert.equal(plan.rulesInstalled, true);
    assert.ok(plan.rules.length > 0);
  });

  it('with run-time proxy ports, binding them gives the rules of a plan with those ports', () => {
    const runtime = planUserspace(state, options, { proxyPorts: 'runtime' });
    assert.ok(runtime.rules.some((r) => r.target.kind === 'REDIRECT' && r.target.toPort === 0));
    const all = new Map([
      ['default/dns:dns/UDP|internal', 41000],
      ['default/shop:http/TCP|internal', 41001],
      ['default/shop:http/TCP|external', 41002],
      ['default/web:http/TCP|internal', 41003],
    ]);
    const some = new Map([...all].filter(([id]) => id !== 'default/shop:http/TCP|external'));
    for (const ports of [all, some, new Map<string, number>()]) {
      assert.equal(
        renderPortalRestore(bindProxyPorts(runtime, ports)),
        renderPortalRestore(planUserspace(state, options, { proxyPorts: ports })),
      );
    }
    const bound = bindProxyPorts(runtime, some);
    assert.deepEqual(
      bound.servicePorts.flatMap((sp) => sp.listeners.map((l) => l.proxyPort)),
      [41000, 41001, 0, 41003],
    );
  });
});

describe('userspace trace', () => {
  const plan = planUserspace(
    proxyState([
      ...state.servicePorts.values(),
      servicePort({ serviceName: 'empty', clusterIPs: ['10.96.0.99'], endpoints: [] }),
      servicePort({
        serviceName: 'sticky',
        clusterIPs: ['10.96.0.30'],
        sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
        endpoints: ['10.1.0.5:80', '10.1.0.6:80'],
      }),
    ]),
    options,
  );
  const half = [
    { address: '10.1.0.1:8080', probability: 0.5 },
    { address: '10.1.0.2:8080', probability: 0.5 },
  ];
  const rows: { name: string; packet: TracePacket; verdict: string; backends?: unknown; pathHas: RegExp }[] =
    [
      {
        name: 'a pod reaches a cluster IP: REDIRECT to the relay, round-robin',
        packet: { source: '10.1.0.50', destination: '10.96.0.10', port: 80, protocol: 'TCP' },
        verdict: 'DNAT',
        backends: half,
        pathHas: /KUBE-PORTALS-CONTAINER: .*-d 10\.96\.0\.10\/32 -j REDIRECT --to-ports \d+$/,
      },
      {
        name: 'the node reaches a cluster IP: DNAT to the node IP',
        packet: { source: '192.168.0.10', destination: '10.96.0.10', port: 80, protocol: 'TCP' },
        verdict: 'DNAT',
        backends: half,
        pathHas: /KUBE-PORTALS-HOST: .*-d 10\.96\.0\.10\/32 -j DNAT --to-destination 192\.168\.0\.10:\d+$/,
      },
      {
        name: 'the wrong port is not proxied',
        packet: { source: '10.1.0.50', destination: '10.96.0.10', port: 81, protocol: 'TCP' },
        verdict: 'NONE',
        backends: [],
        pathHas: /no portal matches/,
      },
      {
        name: 'the wrong protocol is not proxied',
        packet: { source: '10.1.0.50', destination: '10.96.0.53', port: 53, protocol: 'TCP' },
        verdict: 'NONE',
        pathHas: /no portal matches/,
      },
      {
        name: 'UDP to the DNS VIP',
        packet: { source: '10.1.0.50', destination: '10.96.0.53', port: 53, protocol: 'UDP' },
        verdict: 'DNAT',
        backends: [{ address: '10.1.0.3:53', probability: 1 }],
        pathHas: /round-robin over 1 endpoint$/,
      },
      {
        name: 'a node port on a node address reaches the external listener',
        packet: { source: '203.0.113.200', destination: '192.168.0.10', port: 30080, protocol: 'TCP' },
        verdict: 'DNAT',
        backends: [{ address: '10.1.0.4:80', probability: 1 }],
        pathHas: /relay for default\/shop:http\/TCP \(external endpoints\)/,
      },
      {
        name: 'a node port on a foreign address is not captured',
        packet: { source: '203.0.113.200', destination: '203.0.113.99', port: 30080, protocol: 'TCP' },
        verdict: 'NONE',
        pathHas: /not a local address/,
      },
      {
        name: 'the host reaches a non-local external IP directly',
        packet: { source: '192.168.0.10', destination: '203.0.113.7', port: 80, protocol: 'TCP' },
        verdict: 'NONE',
        pathHas: /KUBE-PORTALS-HOST: no rule matches/,
      },
      {
        name: 'a service without endpoints: the relay closes the connection',
        packet: { source: '10.1.0.50', destination: '10.96.0.99', port: 80, protocol: 'TCP' },
        verdict: 'REJECT',
        backends: [],
        pathHas: /accepts the connection and closes it/,
      },
      {
        name: 'ClientIP affinity says so in the path',
        packet: { source: '10.1.0.50', destination: '10.96.0.30', port: 80, protocol: 'TCP' },
        verdict: 'DNAT',
        pathHas: /session affinity ClientIP \(60s\)/,
      },
    ];
  const offPlan = planUserspace(
    proxyState([
      servicePort({ clusterIPs: ['127.0.10.1'], endpoints: ['10.1.0.1:8080'] }),
      servicePort({ serviceName: 'far', clusterIPs: ['10.96.0.10'], endpoints: ['10.1.0.2:8080'] }),
      servicePort({ serviceName: 'np', type: 'NodePort', nodePort: 30090, endpoints: ['10.1.0.3:80'] }),
    ]),
    planOptions({ userspacePortals: 'off' }),
  );
  const offRows: { name: string; packet: TracePacket; verdict: string; pathHas: RegExp }[] = [
    {
      name: 'portals off: a local VIP reaches the listener bound to it',
      packet: { source: '127.0.0.1', destination: '127.0.10.1', port: 80, protocol: 'TCP' },
      verdict: 'DNAT',
      pathHas: /relay listener bound to 127\.0\.10\.1:80/,
    },
    {
      name: 'portals off: a VIP that is not local is not reachable',
      packet: { source: '10.1.0.50', destination: '10.96.0.10', port: 80, protocol: 'TCP' },
      verdict: 'NONE',
      pathHas: /not reachable without portal rules/,
    },
    {
      name: 'portals off: a node port on a node address reaches the listener',
      packet: { source: '203.0.113.200', destination: '192.168.0.10', port: 30090, protocol: 'TCP' },
      verdict: 'DNAT',
      pathHas: /\*:30090 \(node port\)/,
    },
  ];
  for (const row of offRows) {
    it(row.name, () => {
      const result = traceUserspace(offPlan, planOptions({ userspacePortals: 'off' }), row.packet);
      assert.equal(result.verdict, row.verdict, result.path.join('\n'));
      assert.ok(
        result.path.some((p) => row.pathHas.test(p)),
        `${row.pathHas} not in:\n${result.path.join('\n')}`,
      );
    });
  }
  for (const row of rows) {
    it(row.name, () => {
      const result = traceUserspace(plan, options, row.packet);
      assert.equal(result.verdict, row.verdict, result.path.join('\n'));
      assert.equal(result.masquerade, false);
      if (row.backends !== undefined) assert.deepEqual(result.backends, row.backends);
      assert.ok(
        result.path.some((p) => row.pathHas.test(p)),
        `${row.pathHas} not in:\n${result.path.join('\n')}`,
      );
    });
  }
});
