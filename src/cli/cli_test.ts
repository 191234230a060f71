// End-to-end tests of the CLI contract, through the real executable (TypeScript sources via tsx).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { kubeadmConfigConf } from './config/testing/kubeadm_example.ts';
import { kproxy } from './testing/kproxy_cli.ts';

const GOOD = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  clusterIP: 198.18.100.10
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [198.18.1.1]
  - addresses: [198.18.1.2]
    conditions: { ready: false }
`;

const BAD = `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  clusterIP: 198.18.100.999
  ports: [{ name: http, port: 70000 }]
`;

describe('kproxy CLI', () => {
  let dir = '';
  /** `kproxy trace --json` in iptables mode on the test directory, from an off-node client. */
  const traceJson = (to: string) =>
    kproxy([
      'trace',
      '--proxy-mode',
      'iptables',
      '--manifests',
      dir,
      '--node-ip',
      '198.18.0.1',
      '--from',
      '198.18.5.5',
      '--to',
      to,
      '--json',
    ]);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kproxy-cli-'));
    await writeFile(join(dir, 'good.yaml'), GOOD);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('validate: prints a summary and exits 0 on a clean directory', async () => {
    const r = await kproxy(['validate', '--manifests', dir]);
    assert.equal(r.stdout, '1 services, 1 service ports, 2 endpoints, 0 errors\n');
    assert.equal(r.code, 0);
  });

  it('validate: prints every problem as FILE: Kind ns/name: field: reason, and exits 1', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'kproxy-cli-bad-'));
    try {
      await writeFile(join(bad, 'good.yaml'), GOOD);
      await writeFile(join(bad, 'bad.yaml'), BAD);
      await writeFile(join(bad, 'broken.yaml'), 'kind: Service\nmetadata: [\n');
      const r = await kproxy(['validate', '--manifests', bad]);
      const lines = r.stdout.trimEnd().split('\n');
      assert.ok(
        lines.includes('bad.yaml: Service shop/api: spec.clusterIP: not an IP address: "198.18.100.999"'),
        r.stdout,
      );
      assert.ok(
        lines.some((l) => l.startsWith('bad.yaml: Service shop/api: spec.ports[0].port: ')),
        r.stdout,
      );
      assert.ok(
        lines.some((l) => l.startsWith('broken.yaml: ')),
        r.stdout,
      );
      assert.equal(lines.at(-1), `1 services, 1 service ports, 2 endpoints, ${lines.length - 1} errors`);
      assert.equal(r.code, 1);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  it('rules: prints the restore input of the mode', async () => {
    const r = await kproxy([
      'rules',
      '--proxy-mode',
      'iptables',
      '--manifests',
      dir,
      '--node-ip',
      '198.18.0.1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\*nat$/m);
    assert.match(r.stdout, /^-A KUBE-SERVICES .*-d 198\.18\.100\.10\/32 .*--dport 80 .*-j KUBE-SVC-/m);
    assert.match(r.stdout, /-j DNAT --to-destination 198\.18\.1\.1:8080/);
    assert.doesNotMatch(r.stdout, /198\.18\.1\.2:8080/, 'a not-ready endpoint gets no rule');
    assert.match(r.stdout, /^COMMIT$/m);
  });

  it('trace --json: the verdict and every reachable backend with its probability', async () => {
    const r = await traceJson('198.18.100.10:80/tcp');
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as {
      verdict: string;
      masquerade: boolean;
      backends: unknown[];
      path: string[];
    };
    assert.equal(result.verdict, 'DNAT');
    assert.deepEqual(result.backends, [{ address: '198.18.1.1:8080', probability: 1 }]);
    assert.ok(result.path.length > 0);
    const refused = await traceJson('198.18.100.10:81');
    assert.equal(
      (JSON.parse(refused.stdout) as { verdict: string }).verdict,
      'NONE',
      'no service on that port',
    );
  });

  it('rejects a bad flag with exit 2 and a message naming it', async () => {
    const r = await kproxy(['rules', '--manifests', dir, '--cluster-cidr', 'nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Invalid --cluster-cidr: not a CIDR: "nope"/);
  });

  it('run without a source says how to give one', async () => {
    const r = await kproxy(['run', '--proxy-mode', 'iptables']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /No source of services: give --manifests PATH/);
  });

  it('has --help on every command', async () => {
    for (const command of ['run', 'validate', 'rules', 'trace', 'cleanup']) {
      const r = await kproxy([command, '--help']);
      assert.equal(r.code, 0, command);
      assert.match(r.stdout, new RegExp(`Usage: kproxy ${command}`), command);
    }
  });

  it('--version and version print the package version', async () => {
    const { version } = JSON.parse(
      await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'),
    ) as {
      version: string;
    };
    for (const args of [['--version'], ['version']]) {
      const r = await kproxy(args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `kproxy ${version}\n`);
    }
  });

  it('defaults to the iptables mode, as kube-proxy', async () => {
    const rules = await kproxy(['rules', '--manifests', dir, '--node-ip', '198.18.0.1']);
    assert.equal(rules.code, 0, rules.stderr);
    assert.match(rules.stdout, /^\*nat$/m);
    const out = join(dir, 'defaults.yaml');
    const r = await kproxy(['run', '--write-config-to', out, '--node-ip', '198.18.0.1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((parse(await readFile(out, 'utf8')) as { mode: string }).mode, 'iptables');
  });

  it("--config reads kubeadm's ConfigMap; --write-config-to writes the effective configuration and exits", async () => {
    const conf = join(dir, 'config.conf');
    const out = join(dir, 'effective.yaml');
    await writeFile(conf, kubeadmConfigConf());
    const r = await kproxy(['run', '--config', conf, '--write-config-to', out, '--proxy-mode', 'userspace']);
    assert.equal(r.code, 0, r.stderr);
    const written = parse(await readFile(out, 'utf8')) as Record<string, unknown>;
    assert.equal(written['kind'], 'KubeProxyConfiguration');
    assert.equal(written['mode'], 'iptables', 'the file wins over --proxy-mode');
    assert.equal(written['clusterCIDR'], '10.244.0.0/16');
    assert.deepEqual(written['clientConnection'], {
      acceptContentTypes: '',
      burst: 10,
      contentType: 'application/vnd.kubernetes.protobuf',
      kubeconfig: '/var/lib/kube-proxy/kubeconfig.conf',
      qps: 5,
    });
    assert.match(r.stderr, /--proxy-mode is ignored: --config is given, and its mode wins \(as kube-proxy\)/);
    assert.match(r.stderr, /iptables\.localhostNodePorts: not supported yet: ignored/);
    // kproxy applies the conntrack settings and the OOM score: no warning for them.
    assert.doesNotMatch(r.stderr, /conntrack|oomScoreAdj/);
    const again = await kproxy(['run', '--config', out, '--write-config-to', join(dir, 'again.yaml')]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await readFile(join(dir, 'again.yaml'), 'utf8'), await readFile(out, 'utf8'));
  });

  it('rules and trace read --config as run does: its mode and masquerade settings win', async () => {
    const conf = join(dir, 'nft.conf');
    await writeFile(
      conf,
      'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\n' +
        'clusterCIDR: 198.18.0.0/16\nnftables:\n  masqueradeAll: true\n',
    );
    const rules = await kproxy(['rules', '--config', conf, '--manifests', dir, '--proxy-mode', 'iptables']);
    assert.equal(rules.code, 0, rules.stderr);
    assert.match(
      rules.stdout,
      /^add table ip kube-proxy/m,
      'the file mode (nftables) wins over --proxy-mode',
    );
    assert.match(
      rules.stdout,
      /ip daddr @cluster-ips jump mark-for-masquerade/,
      'masqueradeAll from the file',
    );
    assert.match(rules.stderr, /--proxy-mode is ignored: --config is given/);
    const trace = await kproxy([
      'trace',
      '--config',
      conf,
      '--manifests',
      dir,
      '--from',
      '198.18.1.9',
      '--to',
      '198.18.100.10:80/tcp',
      '--json',
    ]);
    assert.equal(trace.code, 0, trace.stderr);
    assert.equal((JSON.parse(trace.stdout) as { masquerade: boolean }).masquerade, true);
  });

  it('refuses a bad configuration file with exit 2 and one message naming the file and the field', async () => {
    const head = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';
    const cases: [string, string, string][] = [
      [
        'type.yaml',
        `${head}conntrack:\n  maxPerCore: abc\n`,
        'conntrack.maxPerCore: must be a 32-bit integer, got "abc"',
      ],
      ['unknown.yaml', `${head}iptables:\n  syncPeriodd: 30s\n`, 'iptables.syncPeriodd: unknown field'],
      ['value.yaml', `${head}mode: ipvs\nipvs:\n  scheduler: fifo\n`, 'ipvs.scheduler: must be one of'],
      [
        'kind.yaml',
        'apiVersion: v1\nkind: ConfigMap\n',
        'kind: must be "KubeProxyConfiguration", got "ConfigMap"',
      ],
      ['yaml.yaml', `${head}mode: [\n`, 'not valid YAML: '],
    ];
    for (const [name, text, reason] of cases) {
      const file = join(dir, name);
      await writeFile(file, text);
      // No source: even if the file were accepted, nothing could be programmed in this namespace.
      const r = await kproxy(['run', '--config', file]);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.ok(
        r.stderr.startsWith(`kproxy: Invalid configuration file ${file}: ${reason}`),
        `${name}: ${r.stderr}`,
      );
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${name}: one line`);
    }
    const missing = await kproxy(['run', '--config', join(dir, 'missing.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^kproxy: Invalid configuration file .*missing\.yaml: cannot read: ENOENT/);
  });
});
