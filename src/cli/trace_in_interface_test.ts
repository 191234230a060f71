// `kproxy trace --in-interface` with --detect-local-mode, through the real executable.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const bin = join(import.meta.dirname, '..', 'bin.ts');

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  clusterIP: 198.19.0.10
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [198.18.101.2]
`;

describe('kproxy trace --in-interface', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kproxy-trace-iif-'));
    await writeFile(join(dir, 'web.yaml'), MANIFESTS);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const trace = (mode: string, extra: string[]) => {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        bin,
        'trace',
        '--proxy-mode',
        mode,
        '--manifests',
        dir,
        '--node-ip',
        '198.18.0.1',
        '--detect-local-mode',
        'InterfaceNamePrefix',
        '--pod-interface-name-prefix',
        'veth',
        '--from',
        '198.18.102.2',
        '--to',
        '198.19.0.10:80',
        '--json',
        ...extra,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    return r;
  };

  for (const mode of ['iptables', 'nftables', 'ipvs']) {
    it(`${mode}: a pod's interface keeps the source, another is masqueraded, none is said`, () => {
      const pod = JSON.parse(trace(mode, ['--in-interface', 'veth12ab']).stdout);
      assert.equal(pod.masquerade, false, pod.path.join('\n'));
      const other = JSON.parse(trace(mode, ['--in-interface', 'eth0']).stdout);
      assert.equal(other.masquerade, true, other.path.join('\n'));
      const unknown = JSON.parse(trace(mode, []).stdout);
      assert.equal(unknown.masquerade, true);
      assert.ok(
        unknown.path.some((s: string) => s.includes('give --in-interface')),
        unknown.path.join('\n'),
      );
    });
  }

  it('refuses a hostile --in-interface and --pod-interface-name-prefix', () => {
    const bad = trace('iptables', ['--in-interface', 'eth0 -j ACCEPT']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Invalid --in-interface/);
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        bin,
        'rules',
        '--manifests',
        dir,
        '--node-ip',
        '198.18.0.1',
        '--detect-local-mode',
        'BridgeInterface',
        '--pod-bridge-interface',
        'br0"}',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Invalid --pod-bridge-interface/);
  });
});
