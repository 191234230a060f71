// The Node's addresses through the real daemon (`kproxy run`, iptables and nftables modes) in a lab's node
// namespace, without --node-ip: with --nodeport-addresses limiting NodePorts to 198.18.0.0/24 (so that the
// rules name each node address), a NodePort answers on an address the node gains only once the Node object
// lists it, without a restart. Needs root, iptables, nft and curl.
//
// Lab addresses: client 198.18.1.2, pod 198.18.101.2 (HTTP identity on 8080), node 198.18.0.1 on lo and the
// added 198.18.0.77; VIP in 198.19.0.0/16.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../lab/eventually.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../lab/kernel_tools.ts';
import { type KproxyProcess, spawnKproxy } from '../lab/kproxy_daemon.ts';
import { createLab, LAB_VIP_PREFIX, type Lab } from '../lab/lab.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'nft', 'curl'] });

const VIP = `${LAB_VIP_PREFIX}0.70`;
const NODE_PORT = 30070;
const ADDED = '198.18.0.77';

function manifests(pod: string, nodeAddresses: readonly string[]): string {
  return `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: addr }
spec:
  type: NodePort
  clusterIP: ${VIP}
  ports: [{ name: http, port: 80, targetPort: 8080, nodePort: ${NODE_PORT} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: addr, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [${pod}]
---
apiVersion: v1
kind: Node
metadata: { name: node-a }
status:
  addresses:
${nodeAddresses.map((a) => `    - { type: InternalIP, address: ${a} }`).join('\n')}
`;
}

for (const mode of ['iptables', 'nftables'] as const) {
  describe(`NodePorts follow the Node's addresses without a restart (real daemon, ${mode})`, { skip }, () => {
    let lab: Lab;
    let dir = '';
    let daemon: KproxyProcess | undefined;

    async function answers(address: string): Promise<boolean> {
      const r = await lab.exec(lab.clients[0]!.ns, [
        'curl',
        '-s',
        '-m',
        '2',
        `http://${address}:${NODE_PORT}/`,
      ]);
      return r.code === 0 && r.stdout.includes('pod0');
    }

    before(async () => {
      lab = await createLab({ tag: `addr${mode[0]}`, clients: 1, pods: 1 });
      dir = await mkdtemp(join(tmpdir(), 'kproxy-addr-'));
      await writeFile(join(dir, 'web.yaml'), manifests(lab.pods[0]!.ip, [lab.node.ip]));
      daemon = spawnKproxy(lab, lab.node.ns, [
        'run',
        '--proxy-mode',
        mode,
        '--iptables-backend',
        'legacy',
        '--manifests',
        dir,
        '--hostname-override',
        'node-a',
        '--nodeport-addresses',
        '198.18.0.0/24',
        '--healthz-bind-address',
        '',
        '--metrics-bind-address',
        '',
        '--iptables-min-sync-period',
        '100ms',
        '--log-level',
        'warn',
      ]);
      await eventually('the NodePort on the node address', async () =>
        (await answers(lab.node.ip)) ? true : undefined,
      );
      // An address the node gains after the start: not in the host addresses kproxy read then.
      const r = await lab.exec(lab.node.ns, ['ip', 'addr', 'add', `${ADDED}/32`, 'dev', 'lo']);
      assert.equal(r.code, 0, r.stderr);
    });

    after(async () => {
      await daemon?.stop();
      await lab?.destroy();
      if (dir !== '') await rm(dir, { recursive: true, force: true });
    });

    it('does not answer on the new address while the Node does not list it', async () => {
      assert.equal(await answers(ADDED), false);
    });

    it('answers there once the Node lists it, still on the node address', async () => {
      await writeFile(join(dir, 'web.yaml'), manifests(lab.pods[0]!.ip, [lab.node.ip, ADDED]));
      await eventually('the NodePort on the added address', async () =>
        (await answers(ADDED)) ? true : undefined,
      );
      assert.ok(await answers(lab.node.ip));
    });
  });
}
