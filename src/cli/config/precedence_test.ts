import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunFlags } from '../run_flags.ts';
import { resolveConfigurationText } from './load.ts';
import { configFromFlags, resolveRun } from './precedence.ts';
import { toVersionedObject } from './serialize.ts';
import { kubeadmConfigConf } from './testing/kubeadm_example.ts';

/** `kproxy run`'s flags with commander's defaults. */
const DEFAULTS: RunFlags = {
  proxyMode: 'iptables',
  logFormat: 'json',
  logLevel: 'info',
  iptablesMinSyncPeriod: '1s',
  iptablesSyncPeriod: '30s',
  ipvsMinSyncPeriod: '1s',
  ipvsSyncPeriod: '30s',
  rulesCheckPeriod: '500ms',
  healthzBindAddress: '0.0.0.0:10256',
  metricsBindAddress: '127.0.0.1:10249',
  cleanup: false,
  iptablesMasqueradeBit: '14',
  ipvsScheduler: 'rr',
  iptablesBackend: 'auto',
  masqueradeAll: false,
  userspacePortals: 'auto',
  userspaceRelayEngine: 'auto',
};

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';
const file = (yaml: string) => resolveConfigurationText(`${HEAD}${yaml}\n`, 'config.conf');

/** Resolves with the given flags set on the command line. */
function run(given: Partial<RunFlags>, yaml?: string) {
  const flags = { ...DEFAULTS, ...given } as RunFlags;
  const isGiven = (key: keyof RunFlags) => Object.hasOwn(given, key);
  return resolveRun(flags, isGiven, yaml === undefined ? undefined : file(yaml));
}

describe('precedence between --config and flags (as kube-proxy)', () => {
  it('without --config, the flags are the configuration', () => {
    const { flags, config, warnings } = run({
      proxyMode: 'ipvs',
      ipvsScheduler: 'lc',
      clusterCidr: '198.18.0.0/15',
    });
    assert.equal(flags.proxyMode, 'ipvs');
    assert.equal(config.mode, 'ipvs');
    assert.equal(config.ipvs.scheduler, 'lc');
    assert.equal(config.clusterCIDR, '198.18.0.0/15');
    assert.deepEqual(warnings, []);
  });

  it('with --config, the file wins over every flag that sets one of its fields; each such flag is named', () => {
    const cases: [Partial<RunFlags>, string, keyof RunFlags, unknown, string][] = [
      [
        { proxyMode: 'userspace' },
        'mode: ipvs',
        'proxyMode',
        'ipvs',
        '--proxy-mode is ignored: --config is given, and its mode wins (as kube-proxy)',
      ],
      [
        { clusterCidr: '198.18.0.0/16' },
        'clusterCIDR: 198.19.0.0/16',
        'clusterCidr',
        '198.19.0.0/16',
        '--cluster-cidr is ignored: --config is given, and its clusterCIDR wins (as kube-proxy)',
      ],
      [
        { iptablesSyncPeriod: '5s' },
        'iptables: { syncPeriod: 1m0s }',
        'iptablesSyncPeriod',
        '1m0s',
        '--iptables-sync-period is ignored: --config is given, and its iptables.syncPeriod wins (as kube-proxy)',
      ],
      [
        { metricsBindAddress: '' },
        '',
        'metricsBindAddress',
        '127.0.0.1:10249',
        '--metrics-bind-address is ignored: --config is given, and its metricsBindAddress wins (as kube-proxy)',
      ],
      [
        { kubeconfig: '/root/.kube/config' },
        'clientConnection: { kubeconfig: /var/lib/kube-proxy/kubeconfig.conf }',
        'kubeconfig',
        '/var/lib/kube-proxy/kubeconfig.conf',
        '--kubeconfig is ignored: --config is given, and its clientConnection.kubeconfig wins (as kube-proxy)',
      ],
      [
        { nodeportAddresses: '198.18.0.0/24' },
        '',
        'nodeportAddresses',
        undefined,
        '--nodeport-addresses is ignored: --config is given, and its nodePortAddresses wins (as kube-proxy)',
      ],
    ];
    for (const [given, yaml, key, expected, warning] of cases) {
      const { flags, warnings } = run(given, yaml);
      assert.equal(flags[key], expected, String(key));
      assert.ok(warnings.includes(warning), `${String(key)}: ${warnings.join('; ')}`);
    }
  });

  it('--hostname-override and --log-format still win over the file when given', () => {
    const { flags, config, warnings } = run(
      { hostnameOverride: 'node-b', logFormat: 'json' },
      'hostnameOverride: node-a\nlogging: { format: text }',
    );
    assert.equal(flags.hostnameOverride, 'node-b');
    assert.equal(flags.logFormat, 'json');
    assert.equal(config.hostnameOverride, 'node-b');
    assert.equal(config.logging.format, 'json');
    assert.ok(!warnings.some((w) => w.startsWith('--hostname-override') || w.startsWith('--log-format')));
    const fromFile = run({}, 'hostnameOverride: " Node-A "\nlogging: { format: json }');
    assert.equal(fromFile.flags.hostnameOverride, 'node-a', 'trimmed and lowercased, as upstream');
    assert.equal(fromFile.flags.logFormat, 'json');
  });

  it('flags only kproxy has apply with --config too', () => {
    const { flags, warnings } = run(
      { manifests: '/m', nodeIp: ['198.18.0.1'], iptablesBackend: 'nft', logLevel: 'debug' },
      'mode: nftables',
    );
    assert.equal(flags.manifests, '/m');
    assert.deepEqual(flags.nodeIp, ['198.18.0.1']);
    assert.equal(flags.iptablesBackend, 'nft');
    assert.equal(flags.logLevel, 'debug');
    assert.ok(!warnings.some((w) => w.startsWith('--')), warnings.join('; '));
  });

  it("maps kubeadm's ConfigMap onto kproxy's settings", () => {
    const { flags } = resolveRun(
      DEFAULTS,
      () => false,
      resolveConfigurationText(kubeadmConfigConf(), 'config.conf'),
    );
    assert.equal(flags.proxyMode, 'iptables');
    assert.equal(flags.kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf');
    assert.equal(flags.clusterCidr, '10.244.0.0/16');
    assert.equal(flags.iptablesSyncPeriod, '30s');
    assert.equal(flags.iptablesMinSyncPeriod, '1s');
    assert.equal(flags.iptablesMasqueradeBit, '14');
    assert.equal(flags.healthzBindAddress, '0.0.0.0:10256');
    assert.equal(flags.metricsBindAddress, '127.0.0.1:10249');
    assert.equal(flags.logFormat, 'text');
    assert.equal(flags.hostnameOverride, undefined);
    assert.equal(flags.nodeportAddresses, undefined);
  });

  it("takes the active mode's section: nftables and ipvs sync periods and masquerading", () => {
    const nft = run(
      {},
      'mode: nftables\nnftables: { syncPeriod: 10s, minSyncPeriod: 2s, masqueradeBit: 5, masqueradeAll: true }',
    ).flags;
    assert.deepEqual(
      [
        nft.iptablesSyncPeriod,
        nft.iptablesMinSyncPeriod,
        nft.iptablesMasqueradeBit,
        nft.masqueradeAll,
        nft.nodeportAddresses,
      ],
      ['10s', '2s', '5', true, 'primary'],
    );
    const ipvs = run(
      {},
      'mode: ipvs\nipvs: { syncPeriod: 10s, scheduler: sh }\niptables: { masqueradeBit: 3 }',
    ).flags;
    assert.deepEqual(
      [ipvs.ipvsSyncPeriod, ipvs.ipvsMinSyncPeriod, ipvs.ipvsScheduler, ipvs.iptablesMasqueradeBit],
      ['10s', '0s', 'sh', '3'],
    );
  });

  it('maps the userspace fields: portRange (both spellings) and udpIdleTimeout', () => {
    const { flags } = run({}, 'mode: userspace\nportRange: 30000+100\nudpIdleTimeout: 1s');
    assert.equal(flags.proxyPortRange, '30000-30099');
    assert.equal(flags.udpTimeout, '1s');
  });

  it('without --config, the nftables mode keeps an empty --nodeport-addresses empty (every address)', () => {
    const config = configFromFlags({ ...DEFAULTS, proxyMode: 'nftables' });
    assert.equal(toVersionedObject(config)['nodePortAddresses'], null);
  });

  it('--detect-local-mode and its interface flags set detectLocalMode and detectLocal; a file sets them back', () => {
    const flags: RunFlags = {
      ...DEFAULTS,
      detectLocalMode: 'InterfaceNamePrefix',
      podInterfaceNamePrefix: 'veth',
      podBridgeInterface: 'cbr0',
    };
    const config = configFromFlags(flags);
    assert.equal(config.detectLocalMode, 'InterfaceNamePrefix');
    assert.deepEqual(config.detectLocal, { bridgeInterface: 'cbr0', interfaceNamePrefix: 'veth' });
    const resolved = resolveRun(
      DEFAULTS,
      () => false,
      file('detectLocalMode: BridgeInterface\ndetectLocal: { bridgeInterface: cbr0 }'),
    );
    assert.equal(resolved.flags.detectLocalMode, 'BridgeInterface');
    assert.equal(resolved.flags.podBridgeInterface, 'cbr0');
    assert.deepEqual(
      resolved.warnings.filter((w) => w.includes('detect')),
      [],
    );
    const overridden = resolveRun(
      { ...DEFAULTS, detectLocalMode: 'NodeCIDR' },
      (k) => k === 'detectLocalMode',
      file('clusterCIDR: 198.19.0.0/16'),
    );
    assert.equal(overridden.flags.detectLocalMode, 'ClusterCIDR');
    assert.ok(
      overridden.warnings.some((w) => w.startsWith('--detect-local-mode is ignored: --config is given')),
    );
  });
});
