import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigFileError } from './config_error.ts';
import { zeroConfiguration } from './defaults.ts';
import { parseKubeProxyConfiguration } from './parse.ts';
import { kubeadmConfigConf, CONFIG_TESTDATA as TESTDATA } from './testing/kubeadm_example.ts';

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

function problemsOf(text: string): string[] {
  try {
    parseKubeProxyConfiguration(text, 'config.conf');
  } catch (error) {
    assert.ok(error instanceof ConfigFileError, String(error));
    assert.equal(error.code, 'KPROXY_CONFIG_INVALID');
    assert.equal(error.file, 'config.conf');
    return error.problems.map((p) => (p.path === '' ? p.reason : `${p.path}: ${p.reason}`));
  }
  assert.fail('no error');
}

describe('parseKubeProxyConfiguration', () => {
  it("reads kubeadm's ConfigMap as written: nulls and zeros are unset", () => {
    const { config, ignoredFields } = parseKubeProxyConfiguration(kubeadmConfigConf(), 'config.conf');
    assert.deepEqual(ignoredFields, []);
    assert.equal(config.clientConnection.kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf');
    assert.equal(config.clusterCIDR, '10.244.0.0/16');
    assert.equal(config.mode, '');
    assert.equal(config.iptables.masqueradeBit, null);
    assert.equal(config.conntrack.maxPerCore, null);
    assert.equal(config.iptables.syncPeriod, 0);
    assert.equal(config.logging.flushFrequency, 0);
    assert.equal(config.nodePortAddresses, null);
  });

  it('reads an older kubeadm file (v1.19, with udpIdleTimeout) the same way', () => {
    const text = readFileSync(join(TESTDATA, 'kubeadm-1.19-config.conf'), 'utf8');
    const { config, ignoredFields } = parseKubeProxyConfiguration(text, 'config.conf');
    assert.deepEqual(ignoredFields, []);
    assert.equal(config.udpIdleTimeout, 0);
  });

  it('decodes every type: durations, pointers, lists, maps, numbers of nanoseconds', () => {
    const { config } = parseKubeProxyConfiguration(
      `${HEAD}mode: ipvs\nipvs: { scheduler: lc, syncPeriod: 1m0s, minSyncPeriod: 2s }\n` +
        'iptables: { masqueradeBit: 0, masqueradeAll: true }\nnodePortAddresses: [198.18.0.0/24]\n' +
        'featureGates: { TopologyAwareHints: true }\nlogging: { flushFrequency: 1000000000 }\n' +
        'clientConnection: { qps: 7.5 }\n',
      'config.conf',
    );
    assert.deepEqual(config.ipvs, {
      ...zeroConfiguration().ipvs,
      scheduler: 'lc',
      syncPeriod: 60_000,
      minSyncPeriod: 2000,
    });
    assert.equal(config.iptables.masqueradeBit, 0);
    assert.equal(config.iptables.masqueradeAll, true);
    assert.deepEqual(config.nodePortAddresses, ['198.18.0.0/24']);
    assert.deepEqual(config.featureGates, { TopologyAwareHints: true });
    assert.equal(config.logging.flushFrequency, 1000);
    assert.equal(config.clientConnection.qps, 7.5);
  });

  it('reads JSON too', () => {
    const { config } = parseKubeProxyConfiguration(
      JSON.stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        mode: 'nftables',
      }),
      'config.json',
    );
    assert.equal(config.mode, 'nftables');
  });

  it('lists every field kproxy does not implement that the file sets', () => {
    const { ignoredFields } = parseKubeProxyConfiguration(
      `${HEAD}conntrack: { maxPerCore: 0, min: 131072, tcpBeLiberal: true }\noomScoreAdj: -999\n` +
        'ipvs: { strictARP: true, excludeCIDRs: [198.18.0.0/24], tcpTimeout: 0s, udpTimeout: 10s }\n' +
        'featureGates: { SomeGate: true }\niptables: { localhostNodePorts: false }\n' +
        'winkernel: { networkName: l2bridge }\nlogging: { verbosity: 4 }\n',
      'config.conf',
    );
    assert.deepEqual(ignoredFields, ['featureGates', 'logging.verbosity', 'winkernel.networkName']);
  });

  it('gives one error naming the file and the field path for each bad input', () => {
    const cases: [string, string, RegExp][] = [
      ['unknown field', `${HEAD}conntrack: { maxPerCor: 1 }\n`, /^conntrack\.maxPerCor: unknown field$/],
      ['unknown top-level field', `${HEAD}proxyMode: ipvs\n`, /^proxyMode: unknown field$/],
      [
        'wrong type: string for int',
        `${HEAD}conntrack: { maxPerCore: "abc" }\n`,
        /^conntrack\.maxPerCore: must be a 32-bit integer, got "abc"$/,
      ],
      [
        'wrong type: float for int',
        `${HEAD}iptables: { masqueradeBit: 14.5 }\n`,
        /^iptables\.masqueradeBit: must be a 32-bit integer/,
      ],
      [
        'wrong type: number for duration',
        `${HEAD}iptables: { syncPeriod: 30 }\n`,
        /^iptables\.syncPeriod: must be a duration such as "30s"/,
      ],
      ['bad duration', `${HEAD}ipvs: { syncPeriod: 30 seconds }\n`, /^ipvs\.syncPeriod: must be a duration/],
      [
        'wrong type: string for bool',
        `${HEAD}iptables: { masqueradeAll: "yes" }\n`,
        /^iptables\.masqueradeAll: must be true or false, got "yes"$/,
      ],
      ['wrong type: scalar for object', `${HEAD}conntrack: 5\n`, /^conntrack: must be an object, got 5$/],
      [
        'wrong type: string for list',
        `${HEAD}nodePortAddresses: 198.18.0.0/24\n`,
        /^nodePortAddresses: must be a list of strings/,
      ],
      [
        'wrong type in a list',
        `${HEAD}nodePortAddresses: [198.18.0.0/24, 7]\n`,
        /^nodePortAddresses\[1\]: must be a string, got 7$/,
      ],
      [
        'wrong type in a map',
        `${HEAD}featureGates: { A: on }\n`,
        /^featureGates\.A: must be true or false, got "on"$/,
      ],
      [
        'wrong kind',
        'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n',
        /^kind: must be "KubeProxyConfiguration", got "KubeletConfiguration"$/,
      ],
      ['missing kind', 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nmode: ipvs\n', /^kind: missing/],
      [
        'other version',
        'apiVersion: kubeproxy.config.k8s.io/v1alpha2\nkind: KubeProxyConfiguration\n',
        /^apiVersion: .*got "kubeproxy\.config\.k8s\.io\/v1alpha2" \(kproxy reads v1alpha1 only\)$/,
      ],
      ['not YAML', `${HEAD}mode: [ipvs\n`, /^not valid YAML: /],
      ['duplicate key', `${HEAD}mode: ipvs\nmode: iptables\n`, /^not valid YAML: Map keys must be unique/],
      ['not an object', '- a\n- b\n', /^not a KubeProxyConfiguration object$/],
      ['two documents', `${HEAD}---\n${HEAD}`, /^expected one KubeProxyConfiguration document, found 2$/],
      ['empty file', '', /^expected one KubeProxyConfiguration document, found 0$/],
    ];
    for (const [name, text, expected] of cases) {
      const problems = problemsOf(text);
      assert.equal(problems.length, 1, `${name}: ${problems.join('; ')}`);
      assert.match(problems[0]!, expected, name);
    }
  });

  it('puts the file in the message, and every problem when there are several', () => {
    assert.throws(
      () => parseKubeProxyConfiguration(`${HEAD}conntrack: { maxPerCore: "abc" }\n`, '/etc/kp.yaml'),
      {
        message:
          'Invalid configuration file /etc/kp.yaml: conntrack.maxPerCore: must be a 32-bit integer, got "abc"',
      },
    );
    assert.throws(() => parseKubeProxyConfiguration(`${HEAD}a: 1\nb: 2\n`, 'f.yaml'), {
      message: 'Invalid configuration file f.yaml: 2 problems:\n  a: unknown field\n  b: unknown field',
    });
  });
});
