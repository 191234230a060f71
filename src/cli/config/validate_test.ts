import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigFileError } from './config_error.ts';
import { resolveConfigurationText } from './load.ts';

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

function problems(yaml: string): string[] {
  try {
    resolveConfigurationText(`${HEAD}${yaml}\n`, 'c.yaml');
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigFileError, String(error));
    return error.problems.map((p) => `${p.path}: ${p.reason}`);
  }
}

describe('validation', () => {
  it('accepts valid values', () => {
    const valid = [
      'mode: ipvs\nipvs: { scheduler: wrr, excludeCIDRs: [198.18.0.0/15] }',
      'mode: userspace\nportRange: 30000-30100',
      'portRange: 30000+100',
      'clusterCIDR: 198.18.0.0/15,2001:2::/48',
      'nodePortAddresses: [primary]',
      'nodePortAddresses: [198.18.0.0/24, "2001:2::/64"]',
      'detectLocalMode: BridgeInterface\ndetectLocal: { bridgeInterface: cbr0 }',
      'iptables: { minSyncPeriod: 30s, syncPeriod: 30s }',
      'healthzBindAddress: "[2001:2::1]:10256"',
      'logging: { format: json }',
      'showHiddenMetricsForVersion: "1.30"',
      'oomScoreAdj: -1000',
    ];
    for (const yaml of valid) assert.deepEqual(problems(yaml), [], yaml);
  });

  it('names the field and says why for each invalid value', () => {
    const cases: [string, string][] = [
      ['mode: kernelspace', 'mode: "kernelspace" is the Windows mode: kproxy runs on Linux'],
      [
        'mode: ebpf',
        'mode: must be one of iptables, ipvs, nftables, userspace or empty (iptables), got "ebpf"',
      ],
      ['iptables: { syncPeriod: -1s }', 'iptables.syncPeriod: must be greater than 0, got -1s'],
      [
        'iptables: { minSyncPeriod: -1s }',
        'iptables.minSyncPeriod: must be greater than or equal to 0, got -1s',
      ],
      [
        'iptables: { minSyncPeriod: 1m0s, syncPeriod: 30s }',
        'iptables.syncPeriod: must be greater than or equal to iptables.minSyncPeriod (1m0s), got 30s',
      ],
      [
        'mode: nftables\nnftables: { syncPeriod: -5s }',
        'nftables.syncPeriod: must be greater than 0, got -5s',
      ],
      ['mode: ipvs\nipvs: { syncPeriod: -5s }', 'ipvs.syncPeriod: must be greater than 0, got -5s'],
      ['iptables: { masqueradeBit: 32 }', 'iptables.masqueradeBit: must be within [0, 31], got 32'],
      ['nftables: { masqueradeBit: -1 }', 'nftables.masqueradeBit: must be within [0, 31], got -1'],
      [
        'mode: ipvs\nipvs: { scheduler: fifo }',
        'ipvs.scheduler: must be one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh or empty (rr), got "fifo"',
      ],
      [
        'mode: ipvs\nipvs: { excludeCIDRs: [nope] }',
        'ipvs.excludeCIDRs[0]: must be a valid CIDR, got "nope"',
      ],
      [
        'mode: ipvs\nipvs: { tcpTimeout: -1s }',
        'ipvs.tcpTimeout: must be greater than or equal to 0, got -1s',
      ],
      ['conntrack: { maxPerCore: -1 }', 'conntrack.maxPerCore: must be greater than or equal to 0, got -1'],
      ['conntrack: { udpTimeout: -1s }', 'conntrack.udpTimeout: must be greater than or equal to 0, got -1s'],
      [
        'clientConnection: { burst: -1 }',
        'clientConnection.burst: must be greater than or equal to 0, got -1',
      ],
      ['oomScoreAdj: 1001', 'oomScoreAdj: must be within [-1000, 1000], got 1001'],
      ['configSyncPeriod: -1s', 'configSyncPeriod: must be greater than 0, got -1s'],
      ['udpIdleTimeout: -1s', 'udpIdleTimeout: must be greater than 0, got -1s'],
      ['bindAddress: node-a', 'bindAddress: must be an IP address, got "node-a"'],
      ['metricsBindAddress: localhost:10249', 'metricsBindAddress: must be a valid IP, got "localhost"'],
      ['healthzBindAddress: 0.0.0.0:70000', 'healthzBindAddress: must be a valid port, got 70000'],
      [
        'clusterCIDR: 198.18.0.0/15,198.19.0.0/16',
        'clusterCIDR: must be a CIDR or a dual-stack pair (e.g. 10.244.0.0/16,fd00:10:244::/56), got "198.18.0.0/15,198.19.0.0/16"',
      ],
      [
        'clusterCIDR: 198.18.0.0',
        'clusterCIDR: must be a CIDR or a dual-stack pair (e.g. 10.244.0.0/16,fd00:10:244::/56), got "198.18.0.0"',
      ],
      [
        'portRange: 100-50',
        'portRange: must be a valid port range (e.g. 30000-30100 or 30000+100), got "100-50"',
      ],
      [
        'nodePortAddresses: [primary, 198.18.0.0/24]',
        'nodePortAddresses[0]: can\'t use both "primary" and CIDRs',
      ],
      [
        'nodePortAddresses: [198.18.0.0]',
        'nodePortAddresses[0]: must be a valid CIDR or "primary", got "198.18.0.0"',
      ],
      [
        'detectLocalMode: PodCIDR',
        'detectLocalMode: must be one of ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix or empty (ClusterCIDR), got "PodCIDR"',
      ],
      [
        'detectLocalMode: BridgeInterface',
        'detectLocal.bridgeInterface: must be set when detectLocalMode is BridgeInterface',
      ],
      ['logging: { format: xml }', 'logging.format: must be text or json, got "xml"'],
      [
        'showHiddenMetricsForVersion: latest',
        'showHiddenMetricsForVersion: must be MAJOR.MINOR (e.g. 1.31), got "latest"',
      ],
    ];
    for (const [yaml, expected] of cases) assert.deepEqual(problems(yaml), [expected], yaml);
  });

  it('checks only the active mode section for sync periods and the IPVS scheduler (as upstream)', () => {
    assert.deepEqual(problems('mode: iptables\nipvs: { scheduler: fifo, syncPeriod: -1s }'), []);
    assert.deepEqual(problems('mode: ipvs\niptables: { syncPeriod: -1s }'), []);
  });

  it('takes every local-traffic detection mode without a warning (kproxy implements them)', () => {
    for (const yaml of [
      'detectLocalMode: NodeCIDR',
      'detectLocalMode: BridgeInterface\ndetectLocal: { bridgeInterface: cbr0 }',
      'detectLocalMode: InterfaceNamePrefix\ndetectLocal: { interfaceNamePrefix: veth }',
    ]) {
      const { warnings } = resolveConfigurationText(`${HEAD}${yaml}\n`, 'c.yaml');
      assert.deepEqual(
        warnings.filter((w) => w.startsWith('detectLocal')),
        [],
        yaml,
      );
    }
  });

  it('refuses hostile or impossible interface names, naming the field', () => {
    const cases: [string, RegExp][] = [
      ['bridgeInterface: "cbr0 -j ACCEPT"', /^detectLocal\.bridgeInterface: only printable ASCII/],
      ['bridgeInterface: "a\\nb"', /^detectLocal\.bridgeInterface: only printable ASCII/],
      ['bridgeInterface: "b\\";flush"', /^detectLocal\.bridgeInterface: """ is not allowed/],
      ['bridgeInterface: "br\\"x"', /^detectLocal\.bridgeInterface: """ is not allowed/],
      ['bridgeInterface: "eth+"', /^detectLocal\.bridgeInterface: "\+" is not allowed/],
      ['bridgeInterface: a/b', /^detectLocal\.bridgeInterface: "\/" is not allowed/],
      ['bridgeInterface: "a:b"', /^detectLocal\.bridgeInterface: ":" is not allowed/],
      ['bridgeInterface: ".."', /^detectLocal\.bridgeInterface: not an interface name/],
      ['bridgeInterface: abcdefghijklmnop', /^detectLocal\.bridgeInterface: longer than 15/],
      ['interfaceNamePrefix: "veth*"', /^detectLocal\.interfaceNamePrefix: "\*" is not allowed/],
      ['interfaceNamePrefix: abcdefghijklmno', /^detectLocal\.interfaceNamePrefix: longer than 14/],
    ];
    for (const [detectLocal, expected] of cases) {
      const found = problems(`detectLocal: { ${detectLocal} }`);
      assert.equal(found.length, 1, `${detectLocal}: ${found.join('; ')}`);
      assert.match(found[0] ?? '', expected, detectLocal);
    }
  });
});
