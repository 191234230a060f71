// Repair and heal through the real daemon (`kproxy run`, userspace, iptables and nftables modes) in a lab's node
// namespace, with a periodic resync far away (60 s), so that only kproxy's integrity check between syncs
// can bring the rules back:
// - its rules flushed behind its back, the service answers again without waiting for a resync (repair);
// - a client whose connection attempt fell into the outage (a SYN that created a connection-tracking
//   entry without NAT) connects again from the same source port once the rules are back (heal); without
//   the heal, that entry would swallow its connections for two minutes.
// The outage is made deterministic by freezing kproxy (SIGSTOP) while the rules are gone.
// Needs root, iptables, nft, conntrack and curl.
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

const skip = kernelTestSkip(import.meta.url, {
  tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'nft', 'conntrack', 'curl'],
});

const VIP = `${LAB_VIP_PREFIX}0.80`;

/**
 * How each mode's rules are flushed behind kproxy's back, so that a packet to the VIP goes nowhere (the
 * nftables mode's filter chains would reject it at once if only its dispatch chain were flushed: every
 * chain of its table is flushed here, sets and maps kept).
 */
const FLUSH: Record<'userspace' | 'iptables' | 'nftables', readonly string[]> = {
  userspace: ['iptables-legacy', '-t', 'nat', '-F', 'KUBE-PORTALS-CONTAINER'],
  iptables: ['iptables-legacy', '-t', 'nat', '-F', 'KUBE-SERVICES'],
  nftables: ['nft', 'flush', 'table', 'ip', 'kube-proxy'],
};

/** How each mode's whole table is wiped: every chain, jump and set of it gone in one step. */
const WIPE: Record<'userspace' | 'iptables' | 'nftables', readonly string[]> = {
  userspace: ['sh', '-c', "printf '*nat\\nCOMMIT\\n' | iptables-legacy-restore -w 5"],
  iptables: ['sh', '-c', "printf '*nat\\nCOMMIT\\n' | iptables-legacy-restore -w 5"],
  nftables: ['nft', 'delete', 'table', 'ip', 'kube-proxy'],
};

for (const mode of ['userspace', 'iptables', 'nftables'] as const) {
  describe(`repair and heal after the rules are flushed or wiped (real daemon, ${mode})`, { skip }, () => {
    let lab: Lab;
    let dir = '';
    let daemon: KproxyProcess | undefined;

    /** One request to the VIP, from a fixed client port when given; the pod's name, or '' on failure. */
    async function get(localPort?: number): Promise<string> {
      const port = localPort === undefined ? [] : ['--local-port', String(localPort)];
      const r = await lab.exec(lab.clients[0]!.ns, ['curl', '-s', '-m', '1', ...port, `http://${VIP}/`]);
      return r.code === 0 ? r.stdout.trim() : '';
    }

    before(async () => {
      lab = await createLab({ tag: `rep${mode[0]}`, clients: 1, pods: 1 });
      dir = await mkdtemp(join(tmpdir(), 'kproxy-repair-'));
      await writeFile(
        join(dir, 'web.yaml'),
        serviceYaml({
          name: 'web',
          namespace: 'repair',
          clusterIP: VIP,
          portName: 'http',
          port: 80,
          targetPort: 8080,
          podIps: [lab.pods[0]!.ip],
        }),
      );
      // As on a real node, a packet to the VIP that no rule rewrites leaves by a route (here back out to the
      // client, which drops it) instead of dying on the node: its connection-tracking entry then stays.
      const route = await lab.exec(lab.node.ns, [
        'ip',
        'route',
        'replace',
        `${VIP}/32`,
        'via',
        lab.clients[0]!.ip,
      ]);
      assert.equal(route.code, 0, route.stderr);
      // A firewall of the node's own that tracks connections, as every real node has: without one, a
      // flushed kproxy table leaves no rule that needs conntrack, and the kernel stops tracking.
      const firewall = await lab.exec(lab.node.ns, ['nft', '-f', '-'], {
        input:
          'table inet kpt-node-firewall {\n  chain forward {\n    type filter hook forward priority 10 ; policy accept ;\n    ct state established,related accept\n  }\n}\n',
      });
      assert.equal(firewall.code, 0, firewall.stderr);
      daemon = spawnKproxy(
        lab,
        lab.node.ns,
        labRunArgs({
          mode,
          manifests: dir,
          iptablesBackend: 'legacy',
          extra: ['--iptables-sync-period', '60s', '--log-format', 'json'],
        }),
      );
      await eventually('an answer through the VIP', async () =>
        (await get()) === 'pod0' ? true : undefined,
      );
    });

    after(async () => {
      daemon?.child.kill('SIGCONT');
      await daemon?.stop();
      await lab?.destroy();
      if (dir !== '') await rm(dir, { recursive: true, force: true });
    });

    /**
     * Freezes kproxy, damages its rules, sends a SYN from `clientPort` into the outage, thaws kproxy: the
     * service must come back through the integrity check, and the same client port connect again.
     */
    async function outage(damage: readonly string[], clientPort: number): Promise<void> {
      const logged = daemon!.output().length;
      daemon!.child.kill('SIGSTOP');
      try {
        const damaged = await lab.exec(lab.node.ns, [...damage]);
        assert.equal(damaged.code, 0, damaged.stderr);
        // Falls into the outage: a SYN from this port leaves an entry without NAT behind.
        assert.equal(await get(clientPort), '');
        const entries = await lab.exec(lab.node.ns, ['conntrack', '-L', '-p', 'tcp', '--orig-dst', VIP]);
        assert.match(
          entries.stdout,
          new RegExp(`sport=${clientPort} dport=80 \\[UNREPLIED\\] src=${VIP.replaceAll('.', '\\.')}`),
        );
      } finally {
        daemon!.child.kill('SIGCONT');
      }
      await eventually(
        'the service back through the VIP',
        async () => ((await get()) === 'pod0' ? true : undefined),
        { timeoutMs: 20_000 },
      );
      assert.match(daemon!.output().slice(logged), /rules damaged|Repairing/i);
      await eventually('the same client port connects again', async () =>
        (await get(clientPort)) === 'pod0' ? true : undefined,
      );
    }

    it('repairs flushed rules long before the periodic resync, and heals what the outage left', async () => {
      await outage(FLUSH[mode], 40_123);
    });

    it('repairs a wiped table (chains, jumps and sets gone) the same way', async () => {
      await outage(WIPE[mode], 40_124);
    });
  });
}
