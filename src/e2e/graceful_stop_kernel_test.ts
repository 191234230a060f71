// Graceful stop of the userspace mode (issue "Operating kproxy", Signals), end to end: the real daemon
// (`kproxy run --proxy-mode userspace`, portal rules in the lab's node namespace) serves a VIP in front of
// the lab pods' banner/echo servers while a client in another namespace runs a series of slow requests;
// SIGTERM arrives in the middle. Needs root.
//
// Lab addresses: node 198.18.0.1, client 198.18.1.2, pods 198.18.101.2 and 198.18.102.2 (echo on 9000),
// VIP 198.19.0.20:80.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../lab/kernel_tools.ts';
import { type KproxyProcess, spawnKproxy } from '../lab/kproxy_daemon.ts';
import { createLab, LAB_VIP_PREFIX, type Lab } from '../lab/lab.ts';
import type { ProbeResult } from '../lab/probe.ts';
import { serviceYaml } from '../lab/service_yaml.ts';
import type { DrainClientDone, DrainClientEvent } from './testing/drain_client.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'iptables-save'] });

const PROBE = new URL('../lab/probe.ts', import.meta.url).href;
const CLIENT = new URL('./testing/drain_client.ts', import.meta.url).href;
const VIP = `${LAB_VIP_PREFIX}0.20`;
/** The proxier's default drain bound: the daemon must be gone well within it plus start-up slack. */
const DRAIN_BOUND_MS = 10_000;

function manifests(lab: Lab): string {
  const podIps = lab.pods.map((p) => p.ip);
  return serviceYaml({
    name: 'echo',
    namespace: 'drain',
    clusterIP: VIP,
    portName: 'tcp',
    port: 80,
    targetPort: 9000,
    podIps,
  });
}

describe('userspace mode: SIGTERM during traffic (real daemon, lab)', { skip }, () => {
  let lab: Lab;
  let dir = '';
  let daemon: KproxyProcess;

  before(async () => {
    lab = await createLab({ tag: 'drain', clients: 1, pods: 2 });
    dir = await mkdtemp(join(tmpdir(), 'kproxy-drain-'));
    await writeFile(join(dir, 'echo.yaml'), manifests(lab));
    daemon = spawnKproxy(lab, lab.node.ns, [
      'run',
      '--proxy-mode',
      'userspace',
      '--manifests',
      dir,
      '--hostname-override',
      'node-a',
      '--healthz-bind-address',
      '127.0.0.1:10256',
      '--metrics-bind-address',
      '127.0.0.1:10249',
      '--log-format',
      'json',
    ]);
    // Served through the portal rules: wait (bounded) until the VIP answers from the client.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await lab.runNode(lab.clients[0]!.ns, PROBE, ['banner', VIP, '80', '--timeout-ms', '500']);
      if (r.code === 0 && (JSON.parse(r.stdout) as ProbeResult).names.length === 1) break;
      assert.ok(Date.now() < deadline, `the VIP is not served within 20 s: ${daemon.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });

  after(async () => {
    await lab?.destroy();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('lets in-flight requests finish, completes every answered request, exits 0 and keeps its rules', async () => {
    const saved = await lab.exec(lab.node.ns, ['iptables-save', '-t', 'nat']);
    assert.match(saved.stdout, /KUBE-PORTALS-CONTAINER .*198\.19\.0\.20\/32/, 'portal rules in place');

    const client = lab.spawnNode(lab.clients[0]!.ns, CLIENT, [
      VIP,
      '80',
      '--sessions',
      '16',
      '--concurrency',
      '3',
      '--chunks',
      '5',
      '--interval-ms',
      '120',
      '--timeout-ms',
      '5000',
    ]);
    const done = new Map<number, DrainClientDone>();
    const answered = new Set<number>();
    let inFlightAtSigterm: number[] | undefined;
    let sigtermAt = 0;
    const summary = new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: client.child.stdout! });
      lines.on('line', (line) => {
        const event = JSON.parse(line) as DrainClientEvent;
        switch (event.event) {
          case 'response':
            answered.add(event.id);
            // Mid-series, with requests half-way through their exchange: stop kproxy.
            if (answered.size === 5 && inFlightAtSigterm === undefined) {
              inFlightAtSigterm = [...answered].filter((id) => !done.has(id));
              sigtermAt = performance.now();
              daemon.child.kill('SIGTERM');
            }
            break;
          case 'done':
            done.set(event.id, event);
            break;
          case 'summary':
            resolve();
            break;
          default: {
            const never: never = event;
            reject(new Error(`Unknown client event: ${JSON.stringify(never)}`));
          }
        }
      });
      lines.on('close', () => reject(new Error('The client ended its output before its summary')));
    });

    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      daemon.exited,
      new Promise((resolve) => {
        timer = setTimeout(resolve, DRAIN_BOUND_MS + 5000, 'still running');
      }),
    ]);
    clearTimeout(timer);
    const exitMs = performance.now() - sigtermAt;
    await summary;

    assert.equal(exit, 0, `kproxy did not exit 0 after SIGTERM: ${daemon.output()}`);
    assert.ok(exitMs < DRAIN_BOUND_MS, `kproxy took ${Math.round(exitMs)} ms to exit`);
    assert.ok(inFlightAtSigterm !== undefined && inFlightAtSigterm.length > 0, 'no request was in flight');
    for (const id of inFlightAtSigterm) {
      assert.deepEqual(
        done.get(id),
        { event: 'done', id, responded: true, complete: true },
        `in flight: ${id}`,
      );
    }
    for (const result of done.values()) {
      if (result.responded)
        assert.equal(result.complete, true, `answered but cut: ${JSON.stringify(result)}`);
    }
    assert.equal(done.size, 16);
    assert.ok(
      [...done.values()].some((r) => !r.responded),
      'requests after the stop must find no relay (the series outlived it)',
    );
    assert.match(daemon.output(), /Stopped accepting: letting \d+ relayed connection\(s\) finish/);
    assert.match(daemon.output(), /Every relayed connection has ended/);

    const after = await lab.exec(lab.node.ns, ['iptables-save']);
    // Kept for the next kproxy, which a request made meanwhile waits for (userspace_restart_kernel_test.ts).
    assert.match(after.stdout, /KUBE-PORTALS-CONTAINER .*198\.19\.0\.20\/32/, 'portal rules kept on stop');
  });
});
