import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from './duration.ts';
import {
  FlagError,
  nodeCIDRDetector,
  type PlanFlags,
  planOptionsFromFlags,
  primaryNodeIPs,
} from './flags.ts';
import { formatTrace, parseDestination } from './main.ts';

const base: PlanFlags = {
  iptablesMasqueradeBit: '14',
  ipvsScheduler: 'rr',
  iptablesBackend: 'auto',
  nodeIp: ['198.18.0.1'],
};

describe('plan flags', () => {
  it('builds plan options with kube-proxy defaults', () => {
    const o = planOptionsFromFlags({ ...base, hostnameOverride: 'node-a' }, parseDuration);
    assert.equal(o.nodeName, 'node-a');
    assert.deepEqual(o.nodeIPs, ['198.18.0.1']);
    assert.deepEqual(o.clusterCIDRs, []);
    assert.equal(o.masqueradeBit, 14);
    assert.equal(o.udpIdleTimeoutMs, 250);
    assert.equal(o.proxyPortRange, undefined);
    assert.equal(o.userspacePortals, 'auto');
    assert.equal(o.userspaceRelayEngine, 'auto');
    assert.equal(o.userspaceDrainTimeoutMs, 10_000);
  });
  it('passes the userspace relay engine and drain timeout through', () => {
    for (const engine of ['auto', 'handles', 'net'] as const) {
      const o = planOptionsFromFlags(
        { ...base, userspaceRelayEngine: engine, userspaceDrainTimeout: '2m30s' },
        parseDuration,
      );
      assert.equal(o.userspaceRelayEngine, engine);
      assert.equal(o.userspaceDrainTimeoutMs, 150_000);
    }
  });
  it('parses lists, ranges and durations', () => {
    const o = planOptionsFromFlags(
      {
        ...base,
        clusterCidr: '198.18.128.0/17,fd00::/64',
        proxyPortRange: '30000-30100',
        udpIdleTimeout: '1s',
        nodeportAddresses: '198.18.0.0/24',
      },
      parseDuration,
    );
    assert.deepEqual(o.clusterCIDRs, ['198.18.128.0/17', 'fd00::/64']);
    assert.deepEqual(o.proxyPortRange, { from: 30000, to: 30100 });
    assert.equal(o.udpIdleTimeoutMs, 1000);
    assert.deepEqual(o.nodePortAddresses, ['198.18.0.0/24']);
  });
  it('passes --userspace-portals on, off or auto through', () => {
    for (const value of ['on', 'off', 'auto'] as const) {
      assert.equal(
        planOptionsFromFlags({ ...base, userspacePortals: value }, parseDuration).userspacePortals,
        value,
      );
    }
  });
  it('rejects bad values with the flag name', () => {
    const cases: [Partial<PlanFlags>, RegExp][] = [
      [{ clusterCidr: '198.18.0.0' }, /--cluster-cidr: not a CIDR: "198.18.0.0"/],
      [{ clusterCidr: '198.18.0.0/33' }, /--cluster-cidr/],
      [
        { clusterCidr: '198.18.0.0/16,198.19.0.0/16' },
        /^Invalid --cluster-cidr: must be a CIDR or a dual-stack pair \(e\.g\. 10\.244\.0\.0\/16,fd00:10:244::\/56\), got "198\.18\.0\.0\/16,198\.19\.0\.0\/16"$/,
      ],
      [
        { clusterCidr: '198.18.0.0/16,2001:2::/48,2001:3::/48' },
        /--cluster-cidr: must be a CIDR or a dual-stack pair/,
      ],
      [{ nodeIp: ['x'] }, /--node-ip: not an IP address: "x"/],
      [{ iptablesMasqueradeBit: '32' }, /--iptables-masquerade-bit/],
      [{ ipvsScheduler: 'fifo' }, /--ipvs-scheduler: "fifo"/],
      [{ proxyPortRange: '200-100' }, /--proxy-port-range/],
      [{ userspacePortals: 'maybe' }, /--userspace-portals: "maybe" is not one of auto, on, off/],
      [
        { userspaceRelayEngine: 'uring' },
        /--userspace-relay-engine: "uring" is not one of auto, handles, net/,
      ],
    ];
    for (const [flags, message] of cases) {
      assert.throws(
        () => planOptionsFromFlags({ ...base, ...flags }, parseDuration),
        (e: unknown) => {
          assert.ok(e instanceof FlagError);
          assert.match(e.message, message);
          return true;
        },
      );
    }
  });
});

describe('--nodeport-addresses primary and --bind-address', () => {
  it("means the node's primary IP of each family, as kube-proxy's", () => {
    const local = () => ['127.0.0.1', '198.18.0.7', '198.18.0.8', '::1', '2001:2::7'];
    const cases: [Pick<PlanFlags, 'bindAddress' | 'nodeIp'>, string[]][] = [
      [{ nodeIp: ['198.18.0.1', '2001:2::1', '198.18.0.2'] }, ['198.18.0.1', '2001:2::1']],
      [{ nodeIp: ['2001:2::1'] }, ['2001:2::1']],
      [{ bindAddress: '198.18.0.9', nodeIp: ['198.18.0.1'] }, ['198.18.0.9']],
      [{ bindAddress: '0.0.0.0' }, ['198.18.0.7', '2001:2::7']],
      [{}, ['198.18.0.7', '2001:2::7']],
    ];
    for (const [flags, expected] of cases) assert.deepEqual(primaryNodeIPs(flags, local), expected);
  });
  it('becomes one host CIDR per family in the plan options', () => {
    const o = planOptionsFromFlags(
      { ...base, nodeIp: ['198.18.0.1', '198.18.0.2', '2001:2::1'], nodeportAddresses: 'primary' },
      parseDuration,
    );
    assert.deepEqual(o.nodePortAddresses, ['198.18.0.1/32', '2001:2::1/128']);
    assert.deepEqual(
      o.nodeIPs,
      ['198.18.0.1', '198.18.0.2', '2001:2::1'],
      'NodePorts still know every node IP',
    );
  });
  it('refuses primary with CIDRs, and a --bind-address that is not an IP', () => {
    assert.throws(
      () => planOptionsFromFlags({ ...base, nodeportAddresses: 'primary,198.18.0.0/24' }, parseDuration),
      /Invalid --nodeport-addresses: "primary" cannot be combined with CIDRs/,
    );
    assert.throws(
      () => planOptionsFromFlags({ ...base, bindAddress: 'node-a' }, parseDuration),
      /Invalid --bind-address: not an IP address: "node-a"/,
    );
  });
});

describe('trace arguments and output', () => {
  it('parses IP:PORT[/proto]', () => {
    assert.deepEqual(parseDestination('198.18.100.1:80'), { ip: '198.18.100.1', port: 80, protocol: 'TCP' });
    assert.deepEqual(parseDestination('198.18.100.1:53/udp'), {
      ip: '198.18.100.1',
      port: 53,
      protocol: 'UDP',
    });
    assert.deepEqual(parseDestination('[fd00::1]:80/SCTP'), { ip: 'fd00::1', port: 80, protocol: 'SCTP' });
    assert.throws(() => parseDestination('198.18.100.1'), /Invalid --to/);
    assert.throws(() => parseDestination('198.18.100.1:0'), /Invalid --to/);
    assert.throws(() => parseDestination('198.18.100.1:80/icmp'), /Invalid --to/);
  });
  it('formats a trace for people', () => {
    const text = formatTrace(
      { source: '198.18.0.9', destination: '198.18.100.1', port: 80, protocol: 'TCP' },
      {
        verdict: 'DNAT',
        masquerade: true,
        backends: [
          { address: '198.18.1.1:8080', probability: 0.5 },
          { address: '198.18.1.2:8080', probability: 0.5 },
        ],
        path: ['nat/PREROUTING', 'nat/KUBE-SERVICES'],
      },
    );
    assert.equal(
      text,
      [
        'packet 198.18.0.9 -> 198.18.100.1:80/tcp',
        '  nat/PREROUTING',
        '  nat/KUBE-SERVICES',
        'verdict: DNAT (masqueraded)',
        '  -> 198.18.1.1:8080  50.0%',
        '  -> 198.18.1.2:8080  50.0%',
        '',
      ].join('\n'),
    );
  });
});

describe('--detect-local-mode', () => {
  const detector = (flags: Partial<PlanFlags>) =>
    planOptionsFromFlags({ ...base, clusterCidr: '198.19.0.0/16', ...flags }, parseDuration).localDetector;
  it('defaults to ClusterCIDR with --cluster-cidr, as kube-proxy', () => {
    assert.deepEqual(detector({}), { mode: 'ClusterCIDR', cidrs: ['198.19.0.0/16'] });
  });
  it('NodeCIDR starts with no CIDR (run fills in the Node podCIDRs)', () => {
    assert.deepEqual(detector({ detectLocalMode: 'NodeCIDR' }), { mode: 'NodeCIDR', cidrs: [] });
  });
  it('BridgeInterface and InterfaceNamePrefix take their interface flag', () => {
    assert.deepEqual(detector({ detectLocalMode: 'BridgeInterface', podBridgeInterface: 'cbr0' }), {
      mode: 'BridgeInterface',
      name: 'cbr0',
    });
    assert.deepEqual(detector({ detectLocalMode: 'InterfaceNamePrefix', podInterfaceNamePrefix: 'veth' }), {
      mode: 'InterfaceNamePrefix',
      prefix: 'veth',
    });
  });
  it('refuses an unknown mode, a missing interface and hostile names', () => {
    const bad: [Partial<PlanFlags>, RegExp][] = [
      [{ detectLocalMode: 'PodCIDR' }, /--detect-local-mode: "PodCIDR" is not one of/],
      [{ detectLocalMode: 'BridgeInterface' }, /--pod-bridge-interface: must be set/],
      [{ detectLocalMode: 'InterfaceNamePrefix' }, /--pod-interface-name-prefix: must be set/],
      [
        { detectLocalMode: 'BridgeInterface', podBridgeInterface: 'cbr0 -j ACCEPT' },
        /--pod-bridge-interface: only printable ASCII/,
      ],
      [{ detectLocalMode: 'BridgeInterface', podBridgeInterface: 'eth+' }, /"\+" is not allowed/],
      [{ detectLocalMode: 'BridgeInterface', podBridgeInterface: 'x"}' }, /""" is not allowed/],
      [{ detectLocalMode: 'BridgeInterface', podBridgeInterface: 'a'.repeat(16) }, /longer than 15/],
      [{ detectLocalMode: 'InterfaceNamePrefix', podInterfaceNamePrefix: 'v*' }, /"\*" is not allowed/],
      [{ detectLocalMode: 'InterfaceNamePrefix', podInterfaceNamePrefix: 'a'.repeat(15) }, /longer than 14/],
      [{ detectLocalMode: 'InterfaceNamePrefix', podInterfaceNamePrefix: 'v\u00e9th' }, /printable ASCII/],
    ];
    for (const [flags, message] of bad) {
      assert.throws(
        () => detector(flags),
        (e: unknown) => e instanceof FlagError && message.test(e.message),
      );
    }
  });
});

describe('nodeCIDRDetector (--detect-local-mode NodeCIDR at run time)', () => {
  it("takes the Node's podCIDRs once they come, and only in NodeCIDR mode", () => {
    const waiting = { mode: 'NodeCIDR', cidrs: [] } as const;
    assert.deepEqual(nodeCIDRDetector(waiting, ['198.19.1.0/24', '2001:2::/64']), {
      mode: 'NodeCIDR',
      cidrs: ['198.19.1.0/24', '2001:2::/64'],
    });
    assert.equal(nodeCIDRDetector(waiting, []), undefined);
    assert.equal(
      nodeCIDRDetector({ mode: 'NodeCIDR', cidrs: ['198.19.1.0/24'] }, ['198.19.1.0/24']),
      undefined,
    );
    assert.equal(nodeCIDRDetector({ mode: 'ClusterCIDR', cidrs: [] }, ['198.19.1.0/24']), undefined);
    assert.equal(nodeCIDRDetector(undefined, ['198.19.1.0/24']), undefined);
  });
});
