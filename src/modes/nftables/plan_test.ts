import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import { NFT_NAMES } from './names.ts';
import { type NftablesPlan, planNftables } from './plan.ts';
import { renderNftablesPlan } from './render.ts';
import { elementText, ruleText } from './rule_text.ts';

function elements(plan: NftablesPlan, container: string): string[] {
  const c = plan.containers.find((x) => x.name === container);
  assert.ok(c, container);
  return c.elements.map((e) => e.key.join(' . '));
}

const two = ['10.180.0.1:80', '10.180.0.2:80'];

describe('planNftables', () => {
  it('is deterministic: the same state gives the same plan and the same script', () => {
    const state = proxyState([
      servicePort({ serviceName: 'b', clusterIPs: ['172.30.0.42'], endpoints: two }),
      servicePort({ serviceName: 'a', type: 'NodePort', nodePort: 30080, endpoints: two }),
    ]);
    const one = planNftables(state, planOptions());
    assert.deepEqual(planNftables(state, planOptions()), one);
    assert.equal(renderNftablesPlan(planNftables(state, planOptions())), renderNftablesPlan(one));
    assert.deepEqual([...one.servicePorts.keys()], ['ns1/a:p80/TCP', 'ns1/b:p80/TCP']);
  });

  it('keeps map elements sorted by key, addresses and ports as numbers', () => {
    const state = proxyState([
      servicePort({
        serviceName: 'a',
        clusterIPs: ['172.30.0.10'],
        type: 'NodePort',
        nodePort: 30100,
        endpoints: two,
      }),
      servicePort({
        serviceName: 'b',
        clusterIPs: ['172.30.0.9'],
        type: 'NodePort',
        nodePort: 30099,
        endpoints: two,
      }),
    ]);
    const plan = planNftables(state, planOptions());
    assert.deepEqual(elements(plan, NFT_NAMES.serviceIPs), [
      '172.30.0.9 . tcp . 80',
      '172.30.0.10 . tcp . 80',
    ]);
    assert.deepEqual(elements(plan, NFT_NAMES.serviceNodePorts), ['tcp . 30099', 'tcp . 30100']);
    assert.deepEqual(elements(plan, NFT_NAMES.clusterIPs), ['172.30.0.9', '172.30.0.10']);
  });

  it("records each service port's own chains, sets and elements under its key", () => {
    const plan = planNftables(
      proxyState([
        servicePort({ sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 }, endpoints: two }),
      ]),
      planOptions(),
    );
    const sp = plan.servicePorts.get('ns1/svc1:p80/TCP');
    assert.ok(sp);
    assert.deepEqual(
      sp.chains.map((c) => c.name.replace(/-[A-Z2-7]{8}-/, '-HASH-')),
      [
        'service-HASH-ns1/svc1/tcp/p80',
        'endpoint-HASH-ns1/svc1/tcp/p80__10.180.0.1/80',
        'endpoint-HASH-ns1/svc1/tcp/p80__10.180.0.2/80',
      ],
    );
    assert.deepEqual(
      sp.affinitySets.map((s) => s.timeoutSeconds),
      [60, 60],
    );
    assert.deepEqual(
      sp.elements.map((e) => `${e.container} ${e.element.key.join(' . ')}`),
      ['cluster-ips 172.30.0.41', 'service-ips 172.30.0.41 . tcp . 80'],
    );
  });

  it('re-plans only the changed service ports when given the previous plan', () => {
    const a = servicePort({ serviceName: 'a', endpoints: two });
    const b = servicePort({ serviceName: 'b', clusterIPs: ['172.30.0.42'], endpoints: two });
    const before = planNftables(proxyState([a, b]), planOptions());
    const b2 = servicePort({ serviceName: 'b', clusterIPs: ['172.30.0.42'], endpoints: ['10.180.0.3:80'] });
    const state = proxyState([a, b2], 2);
    const after = planNftables(state, planOptions(), { previous: before, change: change([b2.key]) });
    assert.equal(after.servicePorts.get(a.key), before.servicePorts.get(a.key));
    assert.notEqual(after.servicePorts.get(b2.key), before.servicePorts.get(b2.key));
    assert.deepEqual(after, planNftables(state, planOptions()));
    // Other flags: nothing can be kept.
    const other = planNftables(state, planOptions({ masqueradeAll: true }), {
      previous: before,
      change: change([]),
    });
    assert.notEqual(other.servicePorts.get(a.key), before.servicePorts.get(a.key));
  });

  it('gives a key two service ports claim to the first, and says so', () => {
    const plan = planNftables(
      proxyState([
        servicePort({ serviceName: 'a', externalIPs: ['192.168.99.11'], endpoints: two }),
        servicePort({
          serviceName: 'b',
          clusterIPs: ['172.30.0.42'],
          externalIPs: ['192.168.99.11'],
          endpoints: two,
        }),
      ]),
      planOptions(),
    );
    const ext = plan.containers
      .find((c) => c.name === NFT_NAMES.serviceIPs)!
      .elements.filter((e) => e.key[0] === '192.168.99.11');
    assert.equal(ext.length, 1);
    assert.match(JSON.stringify(ext[0]!.verdict), /external-[A-Z2-7]{8}-ns1\/a\//);
    assert.deepEqual(plan.warnings, [
      'Service ports ns1/a:p80/TCP and ns1/b:p80/TCP both claim service-ips element 192.168.99.11 . tcp . 80: ns1/a:p80/TCP has it',
    ]);
  });

  it('plans IPv4 only: an IPv6-only service port gets nothing, IPv6 addresses are skipped', () => {
    const plan = planNftables(
      proxyState([
        servicePort({ serviceName: 'v6', clusterIPs: ['fd00::1'], endpoints: ['10.180.0.1:80'] }),
        servicePort({
          externalIPs: ['2001:db8::1', '192.168.99.11'],
          endpoints: ['10.180.0.1:80', 'fd00::5:80'],
        }),
      ]),
      planOptions(),
    );
    assert.deepEqual([...plan.servicePorts.keys()], ['ns1/svc1:p80/TCP']);
    assert.deepEqual(elements(plan, NFT_NAMES.serviceIPs), [
      '172.30.0.41 . tcp . 80',
      '192.168.99.11 . tcp . 80',
    ]);
    assert.equal(plan.family, 'ip');
  });

  it('with --nodeport-addresses: a nodeport-ips set of the matching node IPs, loopback refused', () => {
    const options = planOptions({
      nodeIPs: ['192.168.0.2', '192.168.0.3', '127.0.0.1'],
      nodePortAddresses: ['192.168.0.2/32', '127.0.0.0/8'],
    });
    const plan = planNftables(
      proxyState([servicePort({ type: 'NodePort', nodePort: 30080, endpoints: two })]),
      options,
    );
    assert.deepEqual(elements(plan, NFT_NAMES.nodePortIPs), ['192.168.0.2']);
    assert.deepEqual(plan.unusedContainers, []);
    assert.deepEqual(plan.warnings, [
      '--nodeport-addresses includes 127.0.0.1: localhost NodePorts are not supported',
    ]);
    // Without the flag the set is not used, and a full sync removes it.
    const all = planNftables(proxyState([]), planOptions());
    assert.deepEqual(
      all.unusedContainers.map((c) => c.name),
      [NFT_NAMES.nodePortIPs],
    );
  });

  it('lists what UDP conntrack cleanup needs', () => {
    const plan = planNftables(
      proxyState([
        servicePort({
          protocol: 'UDP',
          type: 'NodePort',
          nodePort: 30053,
          externalIPs: ['192.168.99.11'],
          endpoints: two,
        }),
      ]),
      planOptions(),
    );
    assert.deepEqual(plan.servicePorts.get('ns1/svc1:p80/UDP')?.udp, {
      serviceIPs: ['172.30.0.41', '192.168.99.11'],
      nodePort: 30053,
      endpointIPs: ['10.180.0.1', '10.180.0.2'],
    });
  });

  it('picks endpoints through an endpoint map, one slot of keys per policy chain, in key order', () => {
    const plan = planNftables(
      proxyState([
        servicePort({ serviceName: 'a', endpoints: two }),
        servicePort({ serviceName: 'b', clusterIPs: ['172.30.0.42'], endpoints: ['10.180.0.3:80'] }),
        servicePort({ serviceName: 'c', protocol: 'UDP', clusterIPs: ['172.30.0.43'], endpoints: two }),
      ]),
      planOptions(),
    );
    assert.deepEqual(
      [...plan.servicePorts.values()].map((sp) => sp.slots.map((s) => `${s.protocol} ${s.slot}`)),
      [['tcp 0'], ['tcp 1'], ['udp 0']],
    );
    assert.deepEqual(elements(plan, 'endpoint-ips-tcp-0'), ['0', '1', '65536']);
    assert.deepEqual(elements(plan, 'endpoint-ips-udp-0'), ['0', '1']);
    const a = plan.servicePorts.get('ns1/a:p80/TCP')!;
    assert.deepEqual(a.picks.at(-1)!.rule.action, {
      kind: 'dnat-map',
      protocol: 'tcp',
      count: 2,
      offset: 0,
      map: 'endpoint-ips-tcp-0',
      port: 80,
    });
  });

  it('keeps endpoints on different ports in a map of address and port pairs, the same slot', () => {
    const plan = planNftables(
      proxyState([
        servicePort({ serviceName: 'a', endpoints: ['10.180.0.1:8080', '10.180.0.2:9090'] }),
        servicePort({ serviceName: 'b', clusterIPs: ['172.30.0.42'], endpoints: ['10.180.0.3:80'] }),
      ]),
      planOptions(),
    );
    assert.deepEqual(
      plan.containers
        .filter((c) => c.kind === 'endpoint-map')
        .map((c) => `${c.name} ${c.elements.map(elementText).join(', ')}`),
      [
        'endpoint-ips-tcp-0 65536 : 10.180.0.3',
        'endpoints-tcp-0 0 : 10.180.0.1 . 8080, 1 : 10.180.0.2 . 9090',
      ],
    );
    const text = renderNftablesPlan(plan);
    assert.match(
      text,
      /^add map ip kube-proxy endpoints-tcp-0 \{ typeof numgen random mod 1 : ip daddr \. tcp dport ; \}$/m,
    );
    assert.match(
      text,
      /^add map ip kube-proxy endpoint-ips-tcp-0 \{ typeof numgen random mod 1 : ip daddr ; \}$/m,
    );
    assert.match(text, /offset 0 map @endpoints-tcp-0 comment "ns1\/a:p80"$/m);
    assert.match(text, /offset 65536 map @endpoint-ips-tcp-0 : 80 comment "ns1\/b:p80"$/m);
  });

  it('puts the endpoint choice of ClusterIP-only service ports into one shared chain per endpoint map', () => {
    const plan = planNftables(
      proxyState([
        servicePort({ serviceName: 'a', endpoints: two }),
        servicePort({ serviceName: 'b', clusterIPs: ['172.30.0.42'], endpoints: ['10.180.0.3:80'] }),
        servicePort({ serviceName: 'c', clusterIPs: ['172.30.0.43'], nodePort: 30080, endpoints: two }),
      ]),
      planOptions(),
    );
    const shared = plan.chains.find((c) => c.name === 'clusterip-tcp-0')!;
    assert.deepEqual(
      shared.rules.map((r) => ruleText(r, 'ip')),
      [
        'ip daddr 172.30.0.41 tcp dport 80 dnat ip to numgen random mod 2 offset 0 map @endpoint-ips-tcp-0 : 80 comment "ns1/a:p80"',
        'ip daddr 172.30.0.42 tcp dport 80 dnat ip to numgen random mod 1 offset 65536 map @endpoint-ips-tcp-0 : 80 comment "ns1/b:p80"',
      ],
    );
    assert.deepEqual(plan.servicePorts.get('ns1/a:p80/TCP')!.chains, []);
    // A node port reaches the service chain with the node's address as destination: it keeps its chain.
    const c = plan.servicePorts.get('ns1/c:p80/TCP')!;
    assert.deepEqual(c.picks, []);
    assert.ok(c.chains.some((ch) => ch.name.startsWith('service-')));
    assert.deepEqual(
      plan.containers
        .find((x) => x.name === 'service-ips')!
        .elements.map(
          (e) =>
            `${e.key.join(' . ')} : ${e.verdict?.kind} ${e.verdict?.kind === 'goto' ? e.verdict.chain : ''}`,
        )
        .slice(0, 2),
      ['172.30.0.41 . tcp . 80 : goto clusterip-tcp-0', '172.30.0.42 . tcp . 80 : goto clusterip-tcp-0'],
    );
  });

  it('re-plans only the shared ClusterIP chain of the group that changed, and drops an emptied one', () => {
    const ports = Array.from({ length: 65 }, (_, i) =>
      servicePort({
        serviceName: `s${String(i).padStart(2, '0')}`,
        clusterIPs: [`172.30.1.${i}`],
        endpoints: two,
      }),
    );
    const before = planNftables(proxyState(ports), planOptions());
    const names = (p: typeof before) => p.chains.map((c) => c.name).filter((n) => n.startsWith('clusterip-'));
    assert.deepEqual(names(before), ['clusterip-tcp-0', 'clusterip-tcp-1']);
    const changedPort = servicePort({
      serviceName: 's00',
      clusterIPs: ['172.30.1.0'],
      endpoints: ['10.180.0.1:80'],
    });
    const after = planNftables(proxyState([changedPort, ...ports.slice(1)]), planOptions(), {
      previous: before,
      change: change([changedPort.key]),
    });
    const chain = (p: typeof before, n: string) => p.chains.find((c) => c.name === n);
    assert.notEqual(chain(after, 'clusterip-tcp-0'), chain(before, 'clusterip-tcp-0'));
    assert.equal(chain(after, 'clusterip-tcp-1'), chain(before, 'clusterip-tcp-1'));
    assert.match(ruleText(chain(after, 'clusterip-tcp-0')!.rules[0]!, 'ip'), /mod 1 offset 0 /);
    const last = ports.at(-1)!;
    const removed = planNftables(proxyState(ports.slice(0, -1)), planOptions(), {
      previous: before,
      change: change([], [last.key]),
    });
    assert.deepEqual(names(removed), ['clusterip-tcp-0']);
  });

  it('groups 64 slots per endpoint map', () => {
    const ports = Array.from({ length: 65 }, (_, i) =>
      servicePort({
        serviceName: `s${String(i).padStart(2, '0')}`,
        clusterIPs: [`172.30.1.${i}`],
        endpoints: ['10.180.0.1:80'],
      }),
    );
    const plan = planNftables(proxyState(ports), planOptions());
    assert.deepEqual(elements(plan, 'endpoint-ips-tcp-1'), [String(64 * 65536)]);
    assert.equal(elements(plan, 'endpoint-ips-tcp-0').length, 64);
  });

  it('keeps every slot when re-planning; a changed chain keeps its own, a new one takes the lowest free', () => {
    const a = servicePort({ serviceName: 'a', endpoints: two });
    const b = servicePort({ serviceName: 'b', clusterIPs: ['172.30.0.42'], endpoints: two });
    const c = servicePort({ serviceName: 'c', clusterIPs: ['172.30.0.43'], endpoints: two });
    const before = planNftables(proxyState([a, b, c]), planOptions());
    // a goes away (slot 0 frees up), c loses an endpoint, n is new (and sorts first).
    const c2 = servicePort({ serviceName: 'c', clusterIPs: ['172.30.0.43'], endpoints: ['10.180.0.2:80'] });
    const n = servicePort({ serviceName: '0new', clusterIPs: ['172.30.0.44'], endpoints: two });
    const after = planNftables(proxyState([b, c2, n], 2), planOptions(), {
      previous: before,
      change: change([c2.key, n.key], [a.key]),
    });
    const slot = (key: string) => after.servicePorts.get(key)!.slots.map((s) => s.slot);
    assert.deepEqual(slot(b.key), [1]);
    assert.deepEqual(slot(c2.key), [2]);
    assert.deepEqual(slot(n.key), [0]);
    assert.deepEqual(elements(after, 'endpoint-ips-tcp-0'), ['0', '1', '65536', '65537', '131072']);
    // The slots in use are exactly the service ports' (a's slot 0 was freed, then taken by n).
    assert.deepEqual([...after.slotsTaken.get('tcp')!].sort(), [0, 1, 2]);
    assert.equal(before.slotsTaken.get('tcp')!.size, 3, 'the earlier plan is left as it was');
    // A fresh plan numbers them in key order again.
    assert.deepEqual(
      planNftables(proxyState([b, c2, n], 2), planOptions()).servicePorts.get(n.key)!.slots[0]!.slot,
      0,
    );
  });

  it('keeps endpoint chains for session affinity, whose chains record the client', () => {
    const plan = planNftables(
      proxyState([
        servicePort({ sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 }, endpoints: two }),
      ]),
      planOptions(),
    );
    const sp = plan.servicePorts.get('ns1/svc1:p80/TCP')!;
    assert.deepEqual(sp.slots, []);
    assert.equal(plan.containers.filter((c) => c.kind === 'endpoint-map').length, 0);
    assert.equal(sp.chains.filter((c) => c.name.startsWith('endpoint-')).length, 2);
  });

  it('puts local endpoints (and short-circuited pods) in hairpin-endpoints, each once', () => {
    const plan = planNftables(
      proxyState([
        servicePort({
          serviceName: 'a',
          endpoints: [{ address: '10.180.0.1:80', local: true }, '10.180.0.2:80'],
        }),
        servicePort({
          serviceName: 'b',
          clusterIPs: ['172.30.0.42'],
          endpoints: [{ address: '10.180.0.1:80', local: true }],
        }),
      ]),
      planOptions(),
    );
    assert.deepEqual(elements(plan, NFT_NAMES.hairpinEndpoints), ['10.180.0.1 . 10.180.0.1']);
    assert.deepEqual(plan.warnings, []);
  });

  it('re-plans only the containers a changed service port has elements in (the others are kept as they were)', () => {
    const ports = Array.from({ length: 70 }, (_, i) =>
      servicePort({
        serviceName: `s${String(i).padStart(2, '0')}`,
        clusterIPs: [`172.30.1.${i}`],
        endpoints: two,
      }),
    );
    const before = planNftables(proxyState(ports), planOptions());
    const changed = servicePort({
      serviceName: 's66',
      clusterIPs: ['172.30.1.66'],
      endpoints: ['10.180.0.9:80', ...two],
    });
    const state = proxyState(
      ports.map((p) => (p.key === changed.key ? changed : p)),
      2,
    );
    const after = planNftables(state, planOptions(), { previous: before, change: change([changed.key]) });
    const byName = (plan: NftablesPlan) => new Map(plan.containers.map((c) => [c.name, c]));
    const [b, a] = [byName(before), byName(after)];
    for (const [name, c] of a) {
      // s66 is in the second group of 64 slots; its elements (and its hairpins: none, no local endpoint) are there.
      if (name === 'endpoint-ips-tcp-1') assert.notEqual(c, b.get(name), name);
      else assert.equal(c, b.get(name), name);
    }
    assert.deepEqual(after, planNftables(state, planOptions()));
  });

  it('keeps the clash warnings of containers it does not rebuild', () => {
    const a = servicePort({ serviceName: 'a', externalIPs: ['192.168.99.11'], endpoints: two });
    const b = servicePort({
      serviceName: 'b',
      clusterIPs: ['172.30.0.42'],
      externalIPs: ['192.168.99.11'],
      endpoints: two,
    });
    const c = servicePort({ serviceName: 'c', clusterIPs: ['172.30.0.43'], endpoints: two });
    const before = planNftables(proxyState([a, b, c]), planOptions());
    const c2 = servicePort({ serviceName: 'c', clusterIPs: ['172.30.0.43'], endpoints: ['10.180.0.1:80'] });
    const after = planNftables(proxyState([a, b, c2], 2), planOptions(), {
      previous: before,
      change: change([c2.key]),
    });
    assert.equal(after.warnings.length, 1);
    assert.deepEqual(after.warnings, before.warnings);
  });
});
