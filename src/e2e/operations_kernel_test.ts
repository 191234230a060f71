// Operating kproxy end to end (issue "Operating kproxy"): the real daemon (`kproxy run --proxy-mode iptables`)
// in a lab's node namespace, scraped and probed from inside it. Syncs are made to fail by a wrapper around
// iptables-legacy-restore that fails while a flag file exists (fault injection through PATH; nothing else
// of the host is touched). Needs root.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
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

const VIP = `${LAB_VIP_PREFIX}0.10`;
const HC_PORT = 30555;

function manifests(lab: Lab, localNode: string): string {
  const [pod0, pod1] = lab.pods;
  return `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: ops }
spec:
  type: LoadBalancer
  clusterIP: ${VIP}
  externalTrafficPolicy: Local
  healthCheckNodePort: ${HC_PORT}
  ports: [{ name: http, port: 80, targetPort: 8080, nodePort: 30080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: ops, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [${pod0?.ip}]
    nodeName: ${localNode}
  - addresses: [${pod1?.ip}]
    nodeName: node-b
`;
}

describe('operating kproxy: metrics, healthz, service health checks, SIGTERM (real daemon, iptables mode)', {
  skip,
}, () => {
  let lab: Lab;
  let dir = '';
  let daemon: KproxyProcess;
  const failFlag = () => join(dir, 'fail-restore');

  async function get(url: string): Promise<{ status: number; body: string }> {
    const r = await lab.exec(lab.node.ns, ['curl', '-s', '-m', '2', '-w', '\n%{http_code}', url]);
    const lines = r.stdout.split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n') };
  }

  async function metric(name: string): Promise<number> {
    const { body } = await get('http://127.0.0.1:10249/metrics');
    const line = body.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
  }

  before(async () => {
    lab = await createLab({ tag: 'ops', clients: 1, pods: 2 });
    dir = await mkdtemp(join(tmpdir(), 'kproxy-ops-'));
    const real = execFileSync('sh', ['-c', 'command -v iptables-legacy-restore']).toString().trim();
    const wrap = join(dir, 'bin');
    await writeFile(join(dir, 'svc.yaml'), manifests(lab, 'node-a'));
    execFileSync('mkdir', ['-p', wrap]);
    await writeFile(
      join(wrap, 'iptables-legacy-restore'),
      `#!/bin/sh\nif [ -e '${failFlag()}' ]; then echo 'injected failure' >&2; exit 4; fi\nexec '${real}' "$@"\n`,
    );
    await chmod(join(wrap, 'iptables-legacy-restore'), 0o755);
    daemon = spawnKproxy(
      lab,
      lab.node.ns,
      [
        'run',
        '--proxy-mode',
        'iptables',
        '--iptables-backend',
        'legacy',
        '--manifests',
        dir,
        '--hostname-override',
        'node-a',
        '--healthz-bind-address',
        '127.0.0.1:10256',
        '--metrics-bind-address',
        '127.0.0.1:10249',
        '--iptables-min-sync-period',
        '100ms',
        '--iptables-sync-period',
        '2s',
        '--log-level',
        'warn',
      ],
      { env: { PATH: `${wrap}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` } },
    );
  });

  after(async () => {
    await lab?.destroy();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('syncs, and /metrics shows the sync, its kind and the programming latency', async () => {
    await eventually('a first sync', async () =>
      (await metric('kubeproxy_sync_proxy_rules_duration_seconds_count')) >= 1 ? true : undefined,
    );
    assert.ok((await metric('kubeproxy_sync_full_proxy_rules_duration_seconds_count')) >= 1);
    assert.ok((await metric('kubeproxy_network_programming_duration_seconds_count')) >= 1);
    assert.ok((await metric('kubeproxy_sync_proxy_rules_last_timestamp_seconds')) > 1_700_000_000);
    const healthz = await get('http://127.0.0.1:10256/healthz');
    assert.equal(healthz.status, 200);
    const body = JSON.parse(healthz.body) as { lastUpdated: string; currentTime: string };
    assert.ok(Date.parse(body.currentTime) > 0 && Date.parse(body.lastUpdated) > 0);
    assert.equal((await get('http://127.0.0.1:10256/livez')).status, 200);
    // The traffic itself works from a client.
    const r = await lab.exec(lab.clients[0]!.ns, ['curl', '-s', '-m', '2', `http://${VIP}:80/`]);
    assert.match(r.stdout, /pod[01]/);
  });

  it('the per-service health check follows the local endpoints', async () => {
    const up = await eventually('the health check to answer 200', async () => {
      const r = await get(`http://127.0.0.1:${HC_PORT}/`);
      return r.status === 200 ? r : undefined;
    });
    assert.equal((JSON.parse(up.body) as { localEndpoints: number }).localEndpoints, 1);

    const changesBefore = await metric('kubeproxy_sync_proxy_rules_endpoint_changes_total');
    const partialBefore = await metric('kubeproxy_sync_partial_proxy_rules_duration_seconds_count');
    await writeFile(join(dir, 'svc.yaml'), manifests(lab, 'node-c')); // no endpoint on this node any more
    const down = await eventually('the health check to answer 503', async () => {
      const r = await get(`http://127.0.0.1:${HC_PORT}/`);
      return r.status === 503 ? r : undefined;
    });
    assert.equal((JSON.parse(down.body) as { localEndpoints: number }).localEndpoints, 0);
    assert.equal(await metric('kubeproxy_sync_proxy_rules_endpoint_changes_total'), changesBefore + 1);
    assert.ok((await metric('kubeproxy_sync_partial_proxy_rules_duration_seconds_count')) > partialBefore);
  });

  it('/healthz turns 503 when syncs keep failing past twice the sync period, and 200 again after', async () => {
    await writeFile(failFlag(), '');
    const failuresBefore = await metric('kubeproxy_sync_proxy_rules_iptables_restore_failures_total');
    await writeFile(join(dir, 'svc.yaml'), manifests(lab, 'node-a'));
    await eventually('a restore failure', async () =>
      (await metric('kubeproxy_sync_proxy_rules_iptables_restore_failures_total')) > failuresBefore
        ? true
        : undefined,
    );
    const unhealthy = await eventually(
      '/healthz 503',
      async () => {
        const r = await get('http://127.0.0.1:10256/healthz');
        return r.status === 503 ? r : undefined;
      },
      { timeoutMs: 10_000 },
    );
    assert.match(unhealthy.body, /lastUpdated/);
    await rm(failFlag());
    await eventually('/healthz 200 again', async () => {
      const r = await get('http://127.0.0.1:10256/healthz');
      return r.status === 200 ? r : undefined;
    });
    // The change that failed went in with the retry: the local endpoint is back.
    const hc = await get(`http://127.0.0.1:${HC_PORT}/`);
    assert.equal(hc.status, 200);
  });

  it('stops on SIGTERM and leaves its rules in place (as kube-proxy)', async () => {
    daemon.child.kill('SIGTERM');
    const code = await Promise.race([
      daemon.exited,
      new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000)),
    ]);
    assert.equal(code, 0);
    const save = await lab.exec(lab.node.ns, ['iptables-legacy-save', '-t', 'nat']);
    assert.match(save.stdout, /-A PREROUTING .*-j KUBE-SERVICES/);
    assert.match(save.stdout, new RegExp(`-d ${VIP.replaceAll('.', '\\.')}/32`));
  });
});
