// `kproxy trace` and `kproxy rules` read this node's Node object from the manifests as `run` does: its zone
// decides which endpoints topology hints keep. Through the real executable (TypeScript sources via tsx).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kproxy } from './testing/kproxy_cli.ts';

const SERVICE = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: zones }
spec:
  clusterIP: 198.18.100.20
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: zones, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [198.18.1.1]
    zone: zone-a
    hints: { forZones: [{ name: zone-a }] }
  - addresses: [198.18.1.2]
    zone: zone-b
    hints: { forZones: [{ name: zone-b }] }
`;

const NODE = (zone: string) => `
apiVersion: v1
kind: Node
metadata: { name: node-a, labels: { topology.kubernetes.io/zone: ${zone} } }
`;

describe("rules and trace take this node's zone from the Node in the manifests", () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kproxy-zone-'));
    await writeFile(join(dir, 'svc.yaml'), SERVICE);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const trace = (host: string) =>
    kproxy([
      'trace',
      '--proxy-mode',
      'iptables',
      '--manifests',
      dir,
      '--hostname-override',
      host,
      '--from',
      '198.18.5.5',
      '--to',
      '198.18.100.20:80',
      '--json',
    ]);
  const backends = (stdout: string) =>
    (JSON.parse(stdout) as { backends: { address: string }[] }).backends.map((b) => b.address);

  it('without a Node, every endpoint (no zone: hints are not used)', async () => {
    const r = await trace('node-a');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(backends(r.stdout), ['198.18.1.1:8080', '198.18.1.2:8080']);
  });

  it("with the Node in zone-b, only zone-b's endpoint; another node's Node changes nothing", async () => {
    await writeFile(join(dir, 'node.yaml'), NODE('zone-b'));
    const r = await trace('node-a');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(backends(r.stdout), ['198.18.1.2:8080']);
    const other = await trace('node-c');
    assert.deepEqual(backends(other.stdout), ['198.18.1.1:8080', '198.18.1.2:8080']);
    const rules = await kproxy([
      'rules',
      '--proxy-mode',
      'iptables',
      '--ip-family',
      'IPv4',
      '--manifests',
      dir,
      '--hostname-override',
      'node-a',
    ]);
    assert.equal(rules.code, 0, rules.stderr);
    assert.match(rules.stdout, /198\.18\.1\.2:8080/);
    assert.doesNotMatch(rules.stdout, /198\.18\.1\.1:8080/);
  });
});
