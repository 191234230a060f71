/**
 * The ipvs mode's repair-and-heal scenario, run inside the test guest by ipvs_repair_guest_test.ts (one
 * boot): the real daemon (`kproxy run --proxy-mode ipvs`, periodic resync 120 s away) serves one Service
 * in a lab; while it is frozen (SIGSTOP) its virtual servers are cleared (`ipvsadm --clear`), its nat
 * KUBE-SERVICES flushed and the VIP unbound from kube-ipvs0, and a client connects from a fixed port into
 * the outage; then the daemon runs again. Prints one JSON report line (`KPT-REPORT {...}`): how long until the service answered again,
 * what conntrack showed for a connection IPVS handled and for the one that fell into the outage (before
 * and after the repair), whether the same client port connects again, and what the daemon logged. It
 * asserts nothing itself and always tears everything down.
 *
 * Arguments after the script are passed to `kproxy run` (e.g. `--rules-check-period 0`, to see the test
 * fail without the integrity check).
 *
 * Lab addresses: client 198.18.1.2, pod 198.18.101.2 (HTTP identity on 8080), VIP 198.19.0.80.
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../../../lab/eventually.ts';
import { type KproxyProcess, spawnKproxy } from '../../../lab/kproxy_daemon.ts';
import { createLab, LAB_VIP_PREFIX, type Lab } from '../../../lab/lab.ts';
import { labRunArgs } from '../../../lab/run_args.ts';
import { serviceYaml } from '../../../lab/service_yaml.ts';

const VIP = `${LAB_VIP_PREFIX}0.80`;
/** The client port whose connection falls into the outage. */
const OUTAGE_PORT = 40_123;
/** The client port of a connection made while everything works. */
const HEALTHY_PORT = 40_100;

/** What the scenario reports. */
export interface RepairReport {
  /** `conntrack -L` lines of the healthy connection (IPVS rewrote the reply to the real server). */
  healthy: string[];
  /** What the outage connection got: '' (nothing) or a pod's name. */
  duringOutage: string;
  /** `conntrack -L` lines of the outage connection while kproxy was frozen. */
  outageEntries: string[];
  /**
   * Milliseconds from SIGCONT until the VIP answered again, or undefined when it did not within 45 s (the
   * periodic resync is at least 75 s away then).
   */
  backMs: number | undefined;
  /** `conntrack -L` lines of the outage connection's port once the service was back. */
  outageEntriesAfterRepair: string[];
  /** The first attempt from the outage port once the service was back: a pod's name or ''. */
  samePortFirst: string;
  /** Milliseconds until the outage port connected again, or undefined when it did not within 15 s. */
  samePortMs: number | undefined;
  /** Lines of the daemon's log about damage, repair and healing. */
  log: string[];
  /** What went wrong in the scenario itself (set up, tear down), if anything. */
  error?: string;
}

async function get(lab: Lab, localPort?: number): Promise<string> {
  const port = localPort === undefined ? [] : ['--local-port', String(localPort)];
  const r = await lab.exec(lab.clients[0]!.ns, ['curl', '-s', '-m', '2', ...port, `http://${VIP}/`]);
  return r.code === 0 ? r.stdout.trim() : '';
}

async function entries(lab: Lab, clientPort: number): Promise<string[]> {
  const r = await lab.exec(lab.node.ns, ['conntrack', '-L', '-p', 'tcp', '--orig-dst', VIP]);
  return r.stdout.split('\n').filter((l) => l.includes(`sport=${clientPort} `));
}

async function mustNode(lab: Lab, argv: string[]): Promise<void> {
  const r = await lab.exec(lab.node.ns, argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
}

/** Milliseconds until `check` returns true, or undefined after `timeoutMs`. */
async function timeUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<number | undefined> {
  const t0 = performance.now();
  try {
    await eventually('the scenario step', async () => ((await check()) ? true : undefined), {
      timeoutMs,
      intervalMs: 50,
    });
    return Math.round(performance.now() - t0);
  } catch {
    return undefined;
  }
}

async function scenario(extraArgs: readonly string[]): Promise<RepairReport> {
  const lab = await createLab({ tag: 'ivrep', clients: 1, pods: 1 });
  const dir = await mkdtemp(join(tmpdir(), 'kproxy-ipvs-repair-'));
  let daemon: KproxyProcess | undefined;
  try {
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
    daemon = spawnKproxy(
      lab,
      lab.node.ns,
      labRunArgs({
        mode: 'ipvs',
        manifests: dir,
        iptablesBackend: 'legacy',
        extra: [
          '--iptables-sync-period',
          '120s',
          '--ipvs-sync-period',
          '120s',
          '--log-format',
          'json',
          ...extraArgs,
        ],
      }),
    );
    await eventually(
      'an answer through the VIP',
      async () => ((await get(lab)) === 'pod0' ? true : undefined),
      {
        timeoutMs: 120_000,
      },
    );
    // As on a real node, a packet to the VIP that nothing serves leaves by a route (here back out to the
    // client, which drops it) instead of dying on the node (a VIP bound to kube-ipvs0 is local and wins).
    await mustNode(lab, ['ip', 'route', 'replace', `${VIP}/32`, 'via', lab.clients[0]!.ip]);
    await get(lab, HEALTHY_PORT);
    const healthy = await entries(lab, HEALTHY_PORT);

    daemon.child.kill('SIGSTOP');
    let duringOutage: string;
    let outageEntries: string[];
    try {
      await mustNode(lab, ['ipvsadm', '--clear']);
      await mustNode(lab, ['iptables-legacy', '-w', '5', '-t', 'nat', '-F', 'KUBE-SERVICES']);
      // The VIP unbound too: the client's SYN is then routed on (instead of meeting the node's own TCP,
      // whose reset would make conntrack drop the entry at once) and leaves an entry without NAT behind.
      await mustNode(lab, ['ip', 'addr', 'del', `${VIP}/32`, 'dev', 'kube-ipvs0']);
      duringOutage = await get(lab, OUTAGE_PORT);
      outageEntries = await entries(lab, OUTAGE_PORT);
    } finally {
      daemon.child.kill('SIGCONT');
    }
    const backMs = await timeUntil(async () => (await get(lab)) === 'pod0', 45_000);
    const outageEntriesAfterRepair = await entries(lab, OUTAGE_PORT);
    const t0 = performance.now();
    const samePortFirst = await get(lab, OUTAGE_PORT);
    const retried =
      samePortFirst === 'pod0'
        ? 0
        : await timeUntil(async () => (await get(lab, OUTAGE_PORT)) === 'pod0', 15_000);
    const samePortMs = retried === undefined ? undefined : Math.round(performance.now() - t0);
    const log = daemon
      .output()
      .split('\n')
      .filter((l) => /damaged|Repairing|repaired|connection-tracking|heal/i.test(l))
      .map((l) => l.slice(0, 400));
    return {
      healthy,
      duringOutage,
      outageEntries,
      backMs,
      outageEntriesAfterRepair,
      samePortFirst,
      samePortMs,
      log,
    };
  } finally {
    daemon?.child.kill('SIGCONT');
    await daemon?.stop();
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

try {
  console.log(`KPT-REPORT ${JSON.stringify(await scenario(process.argv.slice(2)))}`);
} catch (error) {
  console.log(
    `KPT-REPORT ${JSON.stringify({ error: error instanceof Error ? error.stack : String(error) })}`,
  );
  process.exitCode = 1;
}
