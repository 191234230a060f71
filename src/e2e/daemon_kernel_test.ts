// The real daemon end to end (`kproxy run --proxy-mode userspace` with portal rules, in a lab's node
// namespace), driven only through its manifests directory, as a user would: hot reload of new services,
// bad manifests during the run that change nothing that was valid, and `kproxy cleanup` afterwards.
// Needs root.
//
// Lab addresses: client 198.18.1.2, pods 198.18.101.2 / 198.18.102.2 (HTTP identity on 8080), VIPs in
// 198.19.0.0/16 (routed to the node, assigned nowhere).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../lab/eventually.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../lab/kernel_tools.ts';
import { KPROXY_ARGV, type KproxyProcess, spawnKproxy } from '../lab/kproxy_daemon.ts';
import { createLab, LAB_VIP_PREFIX, type Lab } from '../lab/lab.ts';
import { labRunArgs } from '../lab/run_args.ts';
import { serviceYaml } from '../lab/service_yaml.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'curl'] });

const VIP_A = `${LAB_VIP_PREFIX}0.30`;
const VIP_B = `${LAB_VIP_PREFIX}0.31`;

function service(name: string, vip: string, port: number | string, podIps: readonly string[]): string {
  return serviceYaml({
    name,
    namespace: 'hr',
    clusterIP: vip,
    portName: 'http',
    port,
    targetPort: 8080,
    podIps,
  });
}

describe('kproxy run: hot reload and bad manifests during the run (real daemon, userspace mode)', {
  skip,
}, () => {
  let lab: Lab;
  let dir = '';
  let daemon: KproxyProcess;

  /** One HTTP request from the client namespace; the pod's name, or undefined when it failed. */
  async function curl(vip: string): Promise<string | undefined> {
    const r = await lab.exec(lab.clients[0]!.ns, ['curl', '-s', '-m', '2', `http://${vip}:80/`]);
    const name = /pod\d+/.exec(r.stdout)?.[0];
    return r.code === 0 ? name : undefined;
  }

  before(async () => {
    lab = await createLab({ tag: 'hr', clients: 1, pods: 2 });
    dir = await mkdtemp(join(tmpdir(), 'kproxy-hr-'));
    await writeFile(join(dir, 'a.yaml'), service('a', VIP_A, 80, [lab.pods[0]!.ip, lab.pods[1]!.ip]));
    daemon = spawnKproxy(
      lab,
      lab.node.ns,
      labRunArgs({ mode: 'userspace', manifests: dir, extra: ['--log-format', 'text'] }),
    );
  });

  after(async () => {
    await lab?.destroy();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('serves the service of the manifests directory', async () => {
    const seen = new Set<string>();
    await eventually('both pods through the VIP', async () => {
      const name = await curl(VIP_A);
      if (name !== undefined) seen.add(name);
      return seen.size === 2 ? true : undefined;
    });
  });

  it('keeps serving when a file becomes unparsable, and reports it', async () => {
    await writeFile(join(dir, 'a.yaml'), 'kind: Service\nmetadata: [\n');
    await eventually('the problem in the log', async () =>
      /a\.yaml: \?: line \d+/.test(daemon.output()) ? true : undefined,
    );
    assert.match((await curl(VIP_A)) ?? 'failed', /pod[01]/);
  });

  it('keeps the last good version of an object that becomes invalid', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a', VIP_A, 70000, [lab.pods[0]!.ip]));
    await eventually('the field problem in the log', async () =>
      daemon.output().includes('a.yaml: Service hr/a: spec.ports[0].port: ') ? true : undefined,
    );
    // The invalid Service keeps its last good version (port 80); its valid slice update (only pod0) applies.
    await eventually('only pod0 behind VIP a', async () => {
      const names = new Set<string | undefined>();
      for (let i = 0; i < 4; i++) names.add(await curl(VIP_A));
      return names.size === 1 && names.has('pod0') ? true : undefined;
    });
  });

  it('serves a new service within about a second of its file appearing', async () => {
    assert.equal(await curl(VIP_B), undefined, 'not served before its file exists');
    const written = Date.now();
    await writeFile(join(dir, 'b.yaml'), service('b', VIP_B, 80, [lab.pods[1]!.ip]));
    await eventually('VIP b to answer', async () => ((await curl(VIP_B)) === 'pod1' ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 50,
    });
    const elapsed = Date.now() - written;
    // 1 s is the promise; the slack covers curl start-up and a loaded CI machine.
    assert.ok(elapsed < 2500, `served after ${elapsed} ms`);
  });

  it('stops serving a service whose file is removed', async () => {
    await rm(join(dir, 'b.yaml'));
    await eventually('VIP b to stop answering', async () =>
      (await curl(VIP_B)) === undefined ? true : undefined,
    );
    assert.match((await curl(VIP_A)) ?? 'failed', /pod0/);
  });

  it('`kproxy cleanup` after a crash leaves no KUBE- chain or jump on either backend', async () => {
    // SIGKILL: no graceful stop, so the portal rules are still there for cleanup to remove.
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    const before = await lab.exec(lab.node.ns, ['sh', '-c', 'iptables-legacy-save; iptables-nft-save']);
    assert.match(before.stdout, /KUBE-PORTALS-CONTAINER/);
    const cleanup = await lab.exec(lab.node.ns, [...KPROXY_ARGV, 'cleanup', '--log-level', 'warn']);
    assert.equal(cleanup.code, 0, cleanup.stderr);
    for (const save of ['iptables-legacy-save', 'iptables-nft-save']) {
      const r = await lab.exec(lab.node.ns, [save]);
      assert.doesNotMatch(r.stdout, /KUBE-/, save);
    }
  });
});
