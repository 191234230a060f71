// The `--config` file watched as kube-proxy watches it: the real daemon (`kproxy run --config`, iptables
// mode) in a lab's node namespace keeps running when the file changes into something that does not load
// (and says so), and stops with exit code 1 when it changes into a valid configuration, so that its
// DaemonSet restarts it with the new file; its rules stay in place meanwhile. Needs root, iptables and curl.
//
// Lab addresses: client 198.18.1.2, pod 198.18.101.2 (HTTP identity on 8080), VIP in 198.19.0.0/16.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../lab/eventually.ts';
import { kernelTestSkip, LAB_TOOLS } from '../lab/kernel_tools.ts';
import { type KproxyProcess, spawnKproxy } from '../lab/kproxy_daemon.ts';
import { createLab, LAB_VIP_PREFIX, type Lab } from '../lab/lab.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [...LAB_TOOLS, 'iptables-legacy-restore', 'iptables-legacy-save', 'curl'],
});

const VIP = `${LAB_VIP_PREFIX}0.30`;

/** A KubeProxyConfiguration as kubeadm writes it, trimmed; conntrack left alone (a lab node cannot). */
function configuration(masqueradeAll: boolean): string {
  return [
    'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
    'kind: KubeProxyConfiguration',
    'mode: iptables',
    'healthzBindAddress: 127.0.0.1:10256',
    'metricsBindAddress: 127.0.0.1:10249',
    'conntrack:',
    '  maxPerCore: 0',
    '  min: 0',
    'iptables:',
    `  masqueradeAll: ${masqueradeAll}`,
    '  minSyncPeriod: 100ms',
    '  syncPeriod: 2s',
    '',
  ].join('\n');
}

describe('kproxy run --config: the file is watched (real daemon, iptables mode)', { skip }, () => {
  let lab: Lab;
  let dir = '';
  let daemon: KproxyProcess;
  let config = '';

  async function curl(): Promise<string> {
    const r = await lab.exec(lab.clients[0]!.ns, ['curl', '-s', '-m', '3', `http://${VIP}/`]);
    return r.stdout.trim();
  }

  before(async () => {
    lab = await createLab({ tag: 'cfgw', clients: 1, pods: 1 });
    dir = await mkdtemp(join(tmpdir(), 'kproxy-cfgw-'));
    const manifests = join(dir, 'manifests');
    await mkdir(manifests);
    await writeFile(
      join(manifests, 'svc.yaml'),
      [
        'apiVersion: v1',
        'kind: Service',
        'metadata: { name: web, namespace: cfgw }',
        `spec: { clusterIP: ${VIP}, ports: [{ name: http, port: 80, targetPort: 8080 }] }`,
        '---',
        'apiVersion: discovery.k8s.io/v1',
        'kind: EndpointSlice',
        'metadata: { name: web-1, namespace: cfgw, labels: { kubernetes.io/service-name: web } }',
        'addressType: IPv4',
        'ports: [{ name: http, port: 8080, protocol: TCP }]',
        `endpoints: [{ addresses: [${lab.pods[0]!.ip}] }]`,
        '',
      ].join('\n'),
    );
    config = join(dir, 'config.conf');
    await writeFile(config, configuration(false));
    daemon = spawnKproxy(
      lab,
      lab.node.ns,
      [
        'run',
        '--config',
        config,
        '--manifests',
        manifests,
        '--hostname-override',
        'node-a',
        '--log-format',
        'json',
      ],
      { env: { KPROXY_CONFIG_WATCH_INTERVAL_MS: '100' } },
    );
    await daemon.waitForSync((s) => s.servicePorts >= 1, { timeoutMs: 30_000, from: 0 });
  });

  after(async () => {
    await daemon?.stop();
    await lab?.destroy();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('serves the Service with the configuration it started with', async () => {
    assert.equal(
      await eventually('an answer through the VIP', async () => (await curl()) || undefined),
      'pod0',
    );
  });

  it('keeps running, and says why, when the file changes into a configuration that does not load', async () => {
    await writeFile(config, configuration(false).replace('mode: iptables', 'mode: bogus'));
    await eventually('the error in the log', async () =>
      daemon.output().includes('The configuration file changed but does not load') ? true : undefined,
    );
    assert.equal(daemon.child.exitCode, null);
    assert.equal(await curl(), 'pod0');
  });

  it('stops with exit code 1 when the file changes into a valid configuration; its rules stay', async () => {
    await writeFile(config, configuration(true));
    const code = await Promise.race([
      daemon.exited,
      new Promise((resolve) => setTimeout(() => resolve('still running'), 15_000)),
    ]);
    assert.equal(code, 1, daemon.output().slice(-2000));
    assert.match(daemon.output(), /The configuration file changed: stopping, to restart with it/);
    assert.equal(await curl(), 'pod0');
  });
});
