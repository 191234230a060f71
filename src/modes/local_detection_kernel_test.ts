/**
 * `--detect-local-mode` on a real kernel, in a lab (src/lab): pods sit behind the node's `kp*` veths,
 * clients behind its `kc*` ones. With detection by interface (the prefix `kp`, or the bridge-like single
 * interface `kp0`), a pod's connection to a cluster IP keeps its source, and a client's is masqueraded;
 * conntrack's reply tuple tells which (a masqueraded reply goes to the node's address, not the client's).
 * Runs the iptables mode (legacy and nft backends) and the nftables mode; the ipvs mode needs the guest
 * kernel and has plan-level tests (ipvs/local_detector_test.ts).
 *
 * Addresses: lab pods 198.18.101-102.2, clients 198.18.1.2, VIPs 198.19.0.0/16.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { LocalDetector } from '../contracts/plan_options.ts';
import type { IptablesBackend, ProxyMode } from '../contracts/proxy_mode.ts';
import { createExec, type Exec } from '../kernel/exec.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../lab/kernel_tools.ts';
import { createLab, type Lab } from '../lab/lab.ts';
import { runProbe } from '../lab/run_probe.ts';
import { change, planOptions, proxyState, servicePort } from './common/testing/fixtures.ts';
import type { Proxier, ProxierDeps } from './mode.ts';
import { loadMode } from './registry.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'nft', 'conntrack'],
});

const VIP = '198.19.0.20';

const CASES: readonly { mode: ProxyMode; backend: IptablesBackend; tag: string }[] = [
  { mode: 'iptables', backend: 'legacy', tag: 'dll' },
  { mode: 'iptables', backend: 'nft', tag: 'dln' },
  { mode: 'nftables', backend: 'nft', tag: 'dlt' },
];

/** The reply destination conntrack keeps for a connection from `source` to the VIP. */
async function replyDestination(exec: Exec, source: string): Promise<string> {
  const r = await exec('conntrack', ['-L', '-p', 'tcp', '--orig-src', source, '--orig-dst', VIP]);
  const line = r.stdout.split('\n').find((l) => l.includes(`dst=${VIP}`));
  assert.ok(line, `a conntrack entry for ${source}: ${r.stdout}${r.stderr}`);
  // The second dst= is the reply tuple's: the client's address, or the node's when masqueraded.
  const dsts = [...line.matchAll(/dst=(\S+)/g)].map((m) => m[1]);
  assert.ok(dsts[1], line);
  return dsts[1];
}

for (const { mode: modeName, backend, tag } of CASES) {
  describe(`--detect-local-mode on a real kernel: ${modeName} (${backend})`, { skip }, () => {
    let lab: Lab;
    let exec: Exec;
    let proxier: Proxier | undefined;
    let deps: ProxierDeps;
    let version = 1;

    before(async () => {
      lab = await createLab({ tag, clients: 1, pods: 3 });
      exec = createExec({ netns: lab.node.ns });
    });

    after(async () => {
      try {
        await proxier?.stop();
        if (deps !== undefined) await (await loadMode(modeName)).cleanup(deps);
      } finally {
        await lab?.destroy();
      }
    });

    async function program(localDetector: LocalDetector): Promise<void> {
      const mode = await loadMode(modeName);
      await proxier?.stop();
      if (deps !== undefined) await mode.cleanup(deps);
      await exec('conntrack', ['-F']);
      deps = {
        options: planOptions({ nodeIPs: [...lab.node.addresses], clusterCIDRs: [], localDetector }),
        exec,
        logger: pino({ level: 'silent' }),
        iptablesBackend: backend,
      };
      proxier = mode.createProxier(deps);
      // One endpoint (pod2), so that every connection takes the same path.
      const web = servicePort({
        serviceName: 'web',
        portName: 'banner',
        port: 80,
        clusterIPs: [VIP],
        endpoints: [`${lab.pods[2]!.ip}:9000`],
      });
      const report = await proxier.sync(proxyState([web], version++), change([]), { full: true });
      assert.equal(report.kind, 'full');
    }

    async function connect(ns: string): Promise<void> {
      const r = await runProbe(lab, ns, ['banner', VIP, '80', '--count', '1']);
      assert.deepEqual(r.failures, []);
      assert.deepEqual(r.names, ['pod2']);
    }

    it('InterfaceNamePrefix kp: a pod keeps its source, a client is masqueraded', async () => {
      await program({ mode: 'InterfaceNamePrefix', prefix: 'kp' });
      const pod = lab.pods[0]!;
      const client = lab.clients[0]!;
      await connect(pod.ns);
      await connect(client.ns);
      assert.equal(await replyDestination(exec, pod.ip), pod.ip);
      assert.notEqual(await replyDestination(exec, client.ip), client.ip);
    });

    it('BridgeInterface kp0: only traffic in on kp0 keeps its source', async () => {
      await program({ mode: 'BridgeInterface', name: 'kp0' });
      const [pod0, pod1] = [lab.pods[0]!, lab.pods[1]!];
      await connect(pod0.ns);
      await connect(pod1.ns);
      assert.equal(await replyDestination(exec, pod0.ip), pod0.ip);
      assert.notEqual(await replyDestination(exec, pod1.ip), pod1.ip);
    });
  });
}
