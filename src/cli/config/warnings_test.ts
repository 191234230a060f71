import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfigurationText } from './load.ts';
import { kubeadmConfigConf } from './testing/kubeadm_example.ts';

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

/**
 * What kube-proxy does to the node with its defaults and kproxy does not: always said. (The conntrack
 * sysctls and the OOM score are applied, so they are not in it.)
 */
const NODE_SETTINGS: string[] = [];

describe('configuration warnings', () => {
  it("say, for kubeadm's ConfigMap, what kube-proxy would do to the node that kproxy does not", () => {
    const { warnings } = resolveConfigurationText(kubeadmConfigConf(), 'config.conf');
    assert.deepEqual(warnings, [...NODE_SETTINGS, 'iptables.localhostNodePorts: not supported yet: ignored']);
  });

  it('name each field the file sets that kproxy does not implement, once', () => {
    const { warnings } = resolveConfigurationText(
      `${HEAD}mode: ipvs\nconntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, tcpBeLiberal: true }\n` +
        'oomScoreAdj: 0\nipvs: { strictARP: true, excludeCIDRs: [198.18.0.0/24], udpTimeout: 10s }\n' +
        'featureGates: { SomeGate: true }\nwinkernel: { networkName: l2bridge }\nlogging: { verbosity: 4 }\n' +
        'bindAddressHardFail: true\nenableProfiling: true\n',
      'config.conf',
    );
    assert.deepEqual(warnings, [
      'featureGates: not supported yet: ignored',
      'logging.verbosity: not supported yet: ignored',
      'bindAddressHardFail: not supported yet: ignored',
      'enableProfiling: not supported yet: ignored',
      'winkernel.networkName: not supported yet: ignored',
    ]);
  });

  it('say nothing of the conntrack settings and the OOM score, which kproxy applies', () => {
    const { warnings } = resolveConfigurationText(
      `${HEAD}mode: ipvs\noomScoreAdj: -500\nconntrack: { maxPerCore: 65536, min: 1, tcpEstablishedTimeout: 1h0m0s, ` +
        'tcpCloseWaitTimeout: 30s, tcpBeLiberal: true, udpTimeout: 10s, udpStreamTimeout: 1m0s }\n',
      'config.conf',
    );
    assert.deepEqual(warnings, []);
  });

  it("stay quiet for an ignored field written with upstream's default", () => {
    const { warnings } = resolveConfigurationText(
      `${HEAD}mode: nftables\nclientConnection: { qps: 5, burst: 10, contentType: application/vnd.kubernetes.protobuf }\n` +
        'configSyncPeriod: 15m0s\nlogging: { flushFrequency: 5s }\niptables: { localhostNodePorts: true }\n',
      'config.conf',
    );
    assert.deepEqual(warnings, NODE_SETTINGS);
  });
});
