// The userspace mode across a restart of the real daemon (`kproxy run --proxy-mode userspace`) in a lab's
// node namespace. Its relay is the data path, so while no kproxy runs nothing can serve; what kproxy can do
// is make a client that connects meanwhile wait instead of fail:
// - after `kill -9` the portal rules stay in the kernel, and KUBE-PORTALS-GUARD drops (instead of the kernel
//   refusing) a SYN to a proxy port nobody listens on, so the client's TCP retransmits it and the restarted
//   relay takes it;
// - after SIGTERM the rules stay as well (as kube-proxy leaves its rules), with the same effect;
// - kproxy started in another mode removes the rules a userspace-mode kproxy left, which would otherwise
//   capture the service traffic before its own.
// Needs root, iptables and curl.
//
// Lab addresses: client 198.18.1.2, pod 198.18.101.2 (HTTP identity on 8080), VIP in 198.19.0.0/16.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../lab/eventually.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../lab/kernel_tools.ts';
import { type KproxyProcess, spawnKproxy } from '../lab/kproxy_daemon.ts';
import { createLab, LAB_VIP_PREFIX, type Lab } from '../lab/lab.ts';
import { labRunArgs } from '../lab/run_args.ts';
import { serviceYaml } from '../lab/service_yaml.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'curl'] });

const VIP = `${LAB_VIP_PREFIX}0.81`;

describe('userspace mode: a client connecting while kproxy restarts is held, not refused (real daemon)', {
  skip,
}, () => {
  let lab: Lab;
  let dir = '';
  let daemon: KproxyProcess | undefined;

  const start = (mode: 'userspace' | 'iptables' = 'userspace'): KproxyProcess =>
    spawnKproxy(
      lab,
      lab.node.ns,
      labRunArgs({ mode, manifests: dir, iptablesBackend: 'legacy', extra: ['--log-format', 'json'] }),
    );

  /** One request to the VIP, waiting up to `seconds`; the pod's name, or curl's error. */
  async function get(seconds = 1): Promise<string> {
    const r = await lab.exec(lab.clients[0]!.ns, ['curl', '-sS', '-m', String(seconds), `http://${VIP}/`]);
    return r.code === 0 ? r.stdout.trim() : `curl exit ${r.code}: ${r.stderr.trim()}`;
  }

  /**
   * The current kproxy has completed a sync of the service (its rules and every jump in place: the VIP
   * answers before the last jumps are ensured) and the VIP answers.
   */
  const served = async (): Promise<void> => {
    await daemon!.waitForSync((sync) => sync.servicePorts >= 1, { timeoutMs: 60_000, from: 0 });
    await eventually('an answer through the VIP', async () => ((await get()) === 'pod0' ? true : undefined));
  };

  const portalRules = async (): Promise<string> =>
    (await lab.exec(lab.node.ns, ['iptables-legacy-save'])).stdout;

  /**
   * With no kproxy running: a request started now, then a new kproxy 300 ms later. The request must be
   * answered by the new kproxy's relay (its SYN was held, not refused).
   */
  async function requestAcrossTheGap(): Promise<string> {
    const pending = get(20);
    await new Promise((resolve) => setTimeout(resolve, 300));
    daemon = start();
    return pending;
  }

  before(async () => {
    lab = await createLab({ tag: 'usrs', clients: 1, pods: 1 });
    dir = await mkdtemp(join(tmpdir(), 'kproxy-us-restart-'));
    await writeFile(
      join(dir, 'web.yaml'),
      serviceYaml({
        name: 'web',
        namespace: 'restart',
        clusterIP: VIP,
        portName: 'http',
        port: 80,
        targetPort: 8080,
        podIps: [lab.pods[0]!.ip],
      }),
    );
    daemon = start();
    await served();
  });

  after(async () => {
    await daemon?.stop();
    await lab?.destroy();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('kill -9: the rules stay and a SYN sent while no relay listens reaches the restarted one', async () => {
    daemon!.child.kill('SIGKILL');
    await daemon!.exited;
    const rules = await portalRules();
    assert.match(rules, /-A KUBE-PORTALS-CONTAINER .*-d 198\.19\.0\.81\/32 .*-j REDIRECT/);
    assert.match(rules, /-A KUBE-PORTALS-GUARD -m socket --nowildcard -j RETURN/);
    assert.match(rules, /-A INPUT .*-j KUBE-PORTALS-GUARD/);
    assert.equal(await requestAcrossTheGap(), 'pod0');
  });

  it('SIGTERM: the rules stay and a SYN sent while kproxy is stopped reaches the next one', async () => {
    await served();
    await daemon!.stop();
    assert.match(await portalRules(), /-A KUBE-PORTALS-CONTAINER .*-d 198\.19\.0\.81\/32 .*-j REDIRECT/);
    assert.equal(await requestAcrossTheGap(), 'pod0');
  });

  it('kproxy in another mode removes the portal rules the userspace mode left', async () => {
    await served();
    await daemon!.stop();
    assert.match(await portalRules(), /KUBE-PORTALS-GUARD/);
    daemon = start('iptables');
    await served();
    const rules = await portalRules();
    assert.doesNotMatch(rules, /KUBE-(PORTALS|NODEPORT)-/);
    assert.match(rules, /KUBE-SERVICES/);
    assert.match(daemon.output(), /Removed the portal rules a userspace-mode kproxy left/);
    await daemon.stop();
    daemon = undefined;
  });
});
