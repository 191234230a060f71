import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyPlatformDefaults, defaultConfiguration, setDefaults, zeroConfiguration } from './defaults.ts';
import { resolveConfigurationText } from './load.ts';
import { KUBE_PROXY_CONFIGURATION_FIELDS } from './schema.ts';
import { configurationYaml, configzBody, toVersionedObject } from './serialize.ts';
import { kubeadmConfigConf } from './testing/kubeadm_example.ts';

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

describe('defaults', () => {
  it("are upstream's v1alpha1 defaults, then Linux's platform defaults", () => {
    const c = defaultConfiguration();
    const v = toVersionedObject(c);
    assert.equal(v['bindAddress'], '0.0.0.0');
    assert.equal(v['healthzBindAddress'], '0.0.0.0:10256');
    assert.equal(v['metricsBindAddress'], '127.0.0.1:10249');
    assert.equal(v['oomScoreAdj'], -999);
    assert.equal(v['configSyncPeriod'], '15m0s');
    assert.equal(v['mode'], 'iptables');
    assert.equal(v['detectLocalMode'], 'ClusterCIDR');
    assert.deepEqual(v['iptables'], {
      localhostNodePorts: true,
      masqueradeAll: false,
      masqueradeBit: 14,
      minSyncPeriod: '1s',
      snatNodeInternalIP: null,
      syncPeriod: '30s',
    });
    assert.deepEqual(v['nftables'], {
      masqueradeAll: false,
      masqueradeBit: 14,
      minSyncPeriod: '1s',
      syncPeriod: '30s',
    });
    assert.equal((v['ipvs'] as Record<string, unknown>)['syncPeriod'], '30s');
    assert.equal(
      (v['ipvs'] as Record<string, unknown>)['minSyncPeriod'],
      '0s',
      'upstream does not default it',
    );
    assert.deepEqual(v['conntrack'], {
      maxPerCore: 32768,
      min: 131072,
      tcpBeLiberal: false,
      tcpCloseWaitTimeout: '1h0m0s',
      tcpEstablishedTimeout: '24h0m0s',
      udpStreamTimeout: '0s',
      udpTimeout: '0s',
    });
    assert.deepEqual(v['clientConnection'], {
      acceptContentTypes: '',
      burst: 10,
      contentType: 'application/vnd.kubernetes.protobuf',
      kubeconfig: '',
      qps: 5,
    });
    assert.deepEqual(v['featureGates'], {});
  });

  it('keep what the file sets, and fill only what it leaves zero or null', () => {
    const cases: [string, (v: Record<string, unknown>) => unknown, unknown][] = [
      [
        'iptables: { masqueradeBit: 0 }',
        (v) => (v['iptables'] as Record<string, unknown>)['masqueradeBit'],
        0,
      ],
      [
        'iptables: { syncPeriod: 0s }',
        (v) => (v['iptables'] as Record<string, unknown>)['syncPeriod'],
        '30s',
      ],
      ['conntrack: { maxPerCore: 0 }', (v) => (v['conntrack'] as Record<string, unknown>)['maxPerCore'], 0],
      ['healthzBindAddress: 198.18.0.1', (v) => v['healthzBindAddress'], '198.18.0.1:10256'],
      ['metricsBindAddress: "::"', (v) => v['metricsBindAddress'], '[::]:10249'],
      ['bindAddress: "::"', (v) => v['metricsBindAddress'], '[::1]:10249'],
      ['bindAddress: "::"', (v) => v['healthzBindAddress'], '[::]:10256'],
      ['metricsBindAddress: 0.0.0.0:9999', (v) => v['metricsBindAddress'], '0.0.0.0:9999'],
      ['mode: nftables', (v) => v['nodePortAddresses'], ['primary']],
      [
        'mode: nftables\nnodePortAddresses: [198.18.0.0/24]',
        (v) => v['nodePortAddresses'],
        ['198.18.0.0/24'],
      ],
      ['mode: ipvs', (v) => v['nodePortAddresses'], null],
      ['detectLocalMode: NodeCIDR', (v) => v['detectLocalMode'], 'NodeCIDR'],
    ];
    for (const [yaml, get, expected] of cases) {
      const { config } = resolveConfigurationText(`${HEAD}${yaml}\n`, 'c.yaml');
      assert.deepEqual(get(toVersionedObject(config)), expected, yaml);
    }
  });

  it("turn kubeadm's ConfigMap into the configuration upstream's defaults give", () => {
    const { config } = resolveConfigurationText(kubeadmConfigConf(), 'config.conf');
    const expected = defaultConfiguration();
    expected.clientConnection.kubeconfig = '/var/lib/kube-proxy/kubeconfig.conf';
    expected.clusterCIDR = '10.244.0.0/16';
    assert.deepEqual(config, expected);
  });

  it('cover every field of the table, and round-trip through the written YAML', () => {
    const zero = zeroConfiguration();
    assert.deepEqual(Object.keys(zero).sort(), Object.keys(KUBE_PROXY_CONFIGURATION_FIELDS).sort());
    const c = applyPlatformDefaults(setDefaults(zeroConfiguration()));
    const again = resolveConfigurationText(configurationYaml(c), 'written.yaml');
    assert.deepEqual(again.config, c);
    const first = resolveConfigurationText(`apiVersion: ${c.apiVersion}\nkind: ${c.kind}\n`, 'empty.yaml');
    assert.deepEqual(again.warnings, first.warnings, 'written defaults warn no more than omitted ones');
  });

  it('serve /configz in upstream shape: one entry keyed by the API group', () => {
    const body = configzBody(defaultConfiguration());
    assert.deepEqual(Object.keys(body), ['kubeproxy.config.k8s.io']);
    assert.equal(
      (body['kubeproxy.config.k8s.io'] as Record<string, unknown>)['kind'],
      'KubeProxyConfiguration',
    );
  });
});
