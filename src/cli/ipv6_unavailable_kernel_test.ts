// What a host without IPv6 gets: the real daemon (`kproxy run --proxy-mode iptables`) in a lab's node
// namespace whose own net.ipv6.conf.all.disable_ipv6 is 1 (a per-namespace sysctl: the root namespace is
// not touched) logs one warning for IPv6, exports kproxy_ip_family_available{ip_family="IPv6"} 0, and
// serves a dual-stack Service on its IPv4 VIP. Needs root, ip, sysctl, the iptables tools and curl.
//
// Lab addresses: client 198.18.1.2, pod 198.18.101.2 / 2001:2:0:d0::2 (HTTP identity on 8080), VIPs
// 198.19.0.60 / 2001:2:0:f::60 (routed to the node, assigned nowhere).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../lab/eventually.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../lab/kernel_tools.ts';
import { type KproxyProcess, spawnKproxy } from '../lab/kproxy_daemon.ts';
import { createLab, LAB_VIP_PREFIX, LAB_VIP6_PREFIX, type Lab } from '../lab/lab.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'curl'] });

const VIP = `${LAB_VIP_PREFIX}0.60`;
const VIP6 = `${LAB_VIP6_PREFIX}60`;

/** A dual-stack Service with one pod behind it in each family. */
function manifests(ip: string, ip6: string): string {
  const slice = (family: 'IPv4' | 'IPv6', address: string) => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-${family.toLowerCase()}, namespace: ds, labels: { kubernetes.io/service-name: web } }
addressType: ${family}
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: ["${address}"]
`;
  return `apiVersion: v1
kind: Service
metadata: { name: web, namespace: ds }
spec:
  clusterIP: ${VIP}
  clusterIPs: [${VIP}, "${VIP6}"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  ports: [{ name: http, port: 80, targetPort: 8080 }]
${slice('IPv4', ip)}${slice('IPv6', ip6)}`;
}

describe('kproxy run on a node without IPv6 (real daemon)', { skip }, () => {
  let lab: Lab;
  let dir = '';
  let daemon: KproxyProcess;

  before(async () => {
    lab = await createLab({ tag: 'noip6', clients: 1, pods: 1 });
    const off = await lab.exec(lab.node.ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    assert.equal(off.code, 0, off.stderr);
    dir = await mkdtemp(join(tmpdir(), 'kproxy-noip6-'));
    const pod = lab.pods[0]!;
    await writeFile(join(dir, 'web.yaml'), manifests(pod.ip, pod.ip6));
    daemon = spawnKproxy(lab, lab.node.ns, [
      'run',
      '--proxy-mode',
      'iptables',
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
      '--log-level',
      'warn',
    ]);
  });

  after(async () => {
    await lab?.destroy();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('serves the IPv4 VIP, says once why IPv6 is left out, and exports the family as unavailable', async () => {
    const client = lab.clients[0]!;
    await eventually('pod0 through the IPv4 VIP', async () => {
      const r = await lab.exec(client.ns, ['curl', '-s', '-m', '2', `http://${VIP}:80/`]);
      return r.code === 0 && r.stdout.includes('pod0') ? true : undefined;
    });
    const metrics = await eventually('the metrics', async () => {
      const r = await lab.exec(lab.node.ns, ['curl', '-s', '-m', '2', 'http://127.0.0.1:10249/metrics']);
      return r.code === 0 && r.stdout.includes('kproxy_ip_family_available') ? r.stdout : undefined;
    });
    assert.match(metrics, /^kproxy_ip_family_available\{ip_family="IPv4"\} 1$/m);
    assert.match(metrics, /^kproxy_ip_family_available\{ip_family="IPv6"\} 0$/m);
    assert.match(metrics, /^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} [1-9]/m);
    assert.doesNotMatch(metrics, /^kubeproxy_\w+\{[^}]*ip_family="IPv6"/m, 'no IPv6 series on this node');
    const warnings = daemon
      .output()
      .split('\n')
      .filter((l) => l.includes('IPv6 Services will not be served on this node'));
    assert.equal(warnings.length, 1, daemon.output());
    // The kernel's reason, or (until the iptables mode plans IPv6) the mode's: never silence.
    assert.match(warnings[0] ?? '', /disable_ipv6 = 1|does not plan IPv6/);
  });
});
