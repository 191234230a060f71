// The real daemon in the nftables mode (`kproxy run --proxy-mode nftables`) in a lab's node namespace,
// driven through its manifests directory and watched through /metrics: it serves a VIP, syncs an endpoint
// change partially, puts back a table deleted behind its back, leaves its table on SIGTERM, and `kproxy
// cleanup` removes it. Without nft it refuses to start, naming what is missing. Needs root and nft.
//
// Lab addresses: client 198.18.1.2, pods 198.18.101.2 / 198.18.102.2 (HTTP identity on 8080), VIPs in
// 198.19.0.0/16 (routed to the node, assigned nowhere).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../lab/eventually.ts';
import { kernelTestSkip, LAB_TOOLS } from '../lab/kernel_tools.ts';
import { KPROXY_ARGV, type KproxyProcess, kproxyArgv, spawnKproxy } from '../lab/kproxy_daemon.ts';
import { createLab, LAB_VIP_PREFIX, type Lab } from '../lab/lab.ts';
import { serviceYaml } from '../lab/service_yaml.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, 'nft', 'curl'] });

const VIP = `${LAB_VIP_PREFIX}0.40`;

function manifests(podIps: readonly string[]): string {
  return serviceYaml({
    name: 'web',
    namespace: 'nft',
    clusterIP: VIP,
    portName: 'http',
    port: 80,
    targetPort: 8080,
    podIps,
  });
}

describe('kproxy run --proxy-mode nftables (real daemon)', { skip }, () => {
  let lab: Lab;
  let dir = '';
  let daemon: KproxyProcess;

  async function curl(url: string, ns = lab.clients[0]!.ns): Promise<string | undefined> {
    const r = await lab.exec(ns, ['curl', '-s', '-m', '2', url]);
    return r.code === 0 ? r.stdout : undefined;
  }

  async function metric(name: string): Promise<number> {
    const body = (await curl('http://127.0.0.1:10249/metrics', lab.node.ns)) ?? '';
    const line = body.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
  }

  async function hasTable(): Promise<boolean> {
    const r = await lab.exec(lab.node.ns, ['nft', 'list', 'tables', 'ip']);
    return /table ip kube-proxy\b/.test(r.stdout);
  }

  before(async () => {
    lab = await createLab({ tag: 'nftd', clients: 1, pods: 2 });
    dir = await mkdtemp(join(tmpdir(), 'kproxy-nftd-'));
    await writeFile(join(dir, 'web.yaml'), manifests(lab.pods.map((p) => p.ip)));
    daemon = spawnKproxy(lab, lab.node.ns, [
      'run',
      '--proxy-mode',
      'nftables',
      '--manifests',
      dir,
      '--hostname-override',
      'node-a',
      '--healthz-bind-address',
      '',
      '--metrics-bind-address',
      '127.0.0.1:10249',
      '--iptables-min-sync-period',
      '100ms',
      '--iptables-sync-period',
      '30s',
      '--log-level',
      'warn',
    ]);
  });

  after(async () => {
    await lab?.destroy();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('serves the VIP after a full sync, with the nftables metrics and without the iptables ones', async () => {
    const seen = new Set<string>();
    await eventually('both pods through the VIP', async () => {
      const name = /pod\d/.exec((await curl(`http://${VIP}:80/`)) ?? '')?.[0];
      if (name !== undefined) seen.add(name);
      return seen.size === 2 ? true : undefined;
    });
    assert.ok((await metric('kubeproxy_sync_full_proxy_rules_duration_seconds_count')) >= 1);
    assert.equal(await metric('kubeproxy_sync_proxy_rules_nftables_sync_failures_total'), 0);
    assert.equal(await metric('kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total'), 0);
    assert.ok(Number.isNaN(await metric('kubeproxy_sync_proxy_rules_iptables_restore_failures_total')));
  });

  it('syncs an endpoint change partially', async () => {
    const partial = await metric('kubeproxy_sync_partial_proxy_rules_duration_seconds_count');
    await writeFile(join(dir, 'web.yaml'), manifests([lab.pods[1]!.ip]));
    await eventually('a partial sync', async () =>
      (await metric('kubeproxy_sync_partial_proxy_rules_duration_seconds_count')) > partial
        ? true
        : undefined,
    );
    for (let i = 0; i < 5; i++) assert.match((await curl(`http://${VIP}:80/`)) ?? 'failed', /pod1/);
  });

  it('puts its table back at the next sync after someone deleted it', async () => {
    const del = await lab.exec(lab.node.ns, ['nft', 'delete', 'table', 'ip', 'kube-proxy']);
    assert.equal(del.code, 0, del.stderr);
    await writeFile(join(dir, 'web.yaml'), manifests(lab.pods.map((p) => p.ip)));
    await eventually('the VIP to answer again', async () =>
      /pod\d/.test((await curl(`http://${VIP}:80/`)) ?? '') ? true : undefined,
    );
    assert.ok(await hasTable());
  });

  it('prints with `kproxy rules` a script that nft accepts', async () => {
    const rules = await lab.exec(lab.node.ns, [
      ...KPROXY_ARGV,
      'rules',
      '--proxy-mode',
      'nftables',
      '--ip-family',
      'IPv4',
      '--manifests',
      dir,
      '--hostname-override',
      'node-a',
    ]);
    assert.equal(rules.code, 0, rules.stderr);
    assert.match(rules.stdout, /^add table ip kube-proxy/);
    const check = await lab.exec(lab.node.ns, ['nft', '-c', '-f', '-'], { input: rules.stdout });
    assert.equal(check.code, 0, check.stderr);
  });

  it('leaves its table on SIGTERM; `kproxy cleanup` removes it', async () => {
    await daemon.stop();
    assert.ok(await hasTable(), 'the kernel modes keep their rules when they stop');
    const cleanup = await lab.exec(lab.node.ns, [...KPROXY_ARGV, 'cleanup', '--log-level', 'warn']);
    assert.equal(cleanup.code, 0, cleanup.stderr);
    assert.equal(await hasTable(), false);
  });

  it('refuses to start without nft, naming what is missing', async () => {
    const r = await lab.exec(
      lab.node.ns,
      kproxyArgv(['run', '--proxy-mode', 'nftables', '--manifests', dir, '--hostname-override', 'node-a'], {
        env: { PATH: '/usr/bin:/bin' },
      }),
      { signal: AbortSignal.timeout(30_000) },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /kproxy: Cannot run nft \(the nftables mode needs nft 1\.0\.1 or later/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
