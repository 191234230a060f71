// Topology-aware routing end to end: the real daemon (`kproxy run`, nftables and iptables modes) in a
// lab's node namespace reads its own Node from the manifests directory, takes the Node's zone, and sends
// a Service's traffic only to the endpoints whose EndpointSlice hints name that zone; when the Node moves
// to another zone, the traffic follows without a restart; an endpoint without hints turns hints off.
// Needs root, nft, iptables and curl.
//
// Lab addresses: client 198.18.1.2, pods 198.18.101.2 / 198.18.102.2 (HTTP identity on 8080), VIPs in
// 198.19.0.0/16 (routed to the node, assigned nowhere).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../lab/eventually.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../lab/kernel_tools.ts';
import { type KproxyProcess, spawnKproxy } from '../lab/kproxy_daemon.ts';
import { createLab, LAB_VIP_PREFIX, type Lab } from '../lab/lab.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'nft', 'curl'] });

const VIP = `${LAB_VIP_PREFIX}0.60`;
const NODE = 'node-a';

/** The Service, its slice (pod 0 hinted for zone-a, pod 1 for zone-b, unless `hints` is false) and the Node. */
function manifests(pods: readonly string[], zone: string, hints = true): string {
  const hint = (z: string) => (hints ? `, hints: { forZones: [{ name: ${z} }] }` : '');
  return `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: topo }
spec:
  clusterIP: ${VIP}
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: topo, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - { addresses: [${pods[0]}], zone: zone-a${hint('zone-a')} }
  - { addresses: [${pods[1]}], zone: zone-b${hint('zone-b')} }
---
apiVersion: v1
kind: Node
metadata: { name: ${NODE}, labels: { topology.kubernetes.io/zone: ${zone} } }
`;
}

for (const mode of ['nftables', 'iptables'] as const) {
  describe(`topology-aware routing through the real daemon (${mode})`, { skip }, () => {
    let lab: Lab;
    let dir = '';
    let daemon: KproxyProcess | undefined;

    /** The pods that answered 12 requests to the VIP. */
    async function answering(): Promise<string[]> {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const r = await lab.exec(lab.clients[0]!.ns, ['curl', '-s', '-m', '2', `http://${VIP}:80/`]);
        const name = /pod\d/.exec(r.code === 0 ? r.stdout : '')?.[0];
        if (name !== undefined) seen.add(name);
      }
      return [...seen].sort();
    }

    before(async () => {
      lab = await createLab({ tag: `topo${mode[0]}`, clients: 1, pods: 2 });
      dir = await mkdtemp(join(tmpdir(), 'kproxy-topo-'));
      await writeFile(
        join(dir, 'web.yaml'),
        manifests(
          lab.pods.map((p) => p.ip),
          'zone-a',
        ),
      );
      daemon = spawnKproxy(lab, lab.node.ns, [
        'run',
        '--proxy-mode',
        mode,
        '--iptables-backend',
        'legacy',
        '--manifests',
        dir,
        '--hostname-override',
        NODE,
        '--healthz-bind-address',
        '',
        '--metrics-bind-address',
        '',
        '--iptables-min-sync-period',
        '100ms',
        '--log-level',
        'warn',
      ]);
    });

    after(async () => {
      await daemon?.stop();
      await lab?.destroy();
      if (dir !== '') await rm(dir, { recursive: true, force: true });
    });

    it("sends the traffic only to the endpoints hinted for the Node's zone", async () => {
      await eventually('pod0 alone through the VIP', async () => {
        const pods = await answering();
        return pods.length === 1 && pods[0] === 'pod0' ? true : undefined;
      });
    });

    it('follows the Node to another zone without a restart', async () => {
      await writeFile(
        join(dir, 'web.yaml'),
        manifests(
          lab.pods.map((p) => p.ip),
          'zone-b',
        ),
      );
      await eventually('pod1 alone through the VIP', async () => {
        const pods = await answering();
        return pods.length === 1 && pods[0] === 'pod1' ? true : undefined;
      });
    });

    it('uses every endpoint again when the hints are gone', async () => {
      await writeFile(
        join(dir, 'web.yaml'),
        manifests(
          lab.pods.map((p) => p.ip),
          'zone-b',
          false,
        ),
      );
      await eventually('both pods through the VIP', async () =>
        (await answering()).length === 2 ? true : undefined,
      );
    });
  });
}
