import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createExec } from '../kernel/exec.ts';
import { kernelTestSkip, LAB_TOOLS } from './kernel_tools.ts';
import { createLab, type Lab } from './lab.ts';
import { runProbe } from './run_probe.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, 'curl'] });

async function namespaces(): Promise<string[]> {
  const { stdout } = await createExec()('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

describe('lab', { skip }, () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({ tag: 'lab', clients: 1, pods: 2 });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('names every namespace kpt-<tag>-<pid>-<n> and keeps interface names short', () => {
    assert.match(lab.id, new RegExp(`^kpt-lab-${process.pid % 10000}-\\d+$`));
    for (const ns of lab.namespaces) assert.ok(ns.startsWith(`${lab.id}-`), ns);
  });

  it('creates every namespace and nothing in the root namespace', async () => {
    const present = await namespaces();
    for (const ns of lab.namespaces) assert.ok(present.includes(ns), `${ns} missing`);
    const { stdout } = await createExec()('ip', ['-o', 'link', 'show']);
    assert.doesNotMatch(stdout, /\bk[cp]\d+[@:]/, 'a lab interface leaked into the root namespace');
  });

  it('lets a client reach each backend through the node, over TCP (banner and HTTP) and UDP', async () => {
    const client = lab.clients[0]!;
    for (const pod of lab.pods) {
      const banner = await runProbe(lab, client.ns, ['banner', pod.ip, '9000', '--count', '2']);
      assert.deepEqual(banner.names, [pod.name, pod.name]);
      const udp = await runProbe(lab, client.ns, ['udp', pod.ip, '9000', '--count', '2']);
      assert.deepEqual(udp.names, [pod.name, pod.name]);
      const http = await lab.exec(client.ns, ['curl', '-s', '--max-time', '5', `http://${pod.ip}:8080/`]);
      assert.equal(http.stdout, `${pod.name}\n`);
    }
  });

  it('gives the node an address that every client and pod reaches, and forwarding on', async () => {
    const server = lab.spawnNode(lab.node.ns, new URL('./identity_server.ts', import.meta.url).href, [
      '--name',
      'node',
      '--host',
      lab.node.ip,
      '--banner-port',
      '7000',
    ]);
    try {
      await new Promise<void>((resolve) => server.child.stdout?.once('data', () => resolve()));
      for (const host of [lab.clients[0]!, lab.pods[0]!]) {
        const result = await runProbe(lab, host.ns, ['banner', lab.node.ip, '7000']);
        assert.deepEqual(result.names, ['node'], host.name);
      }
    } finally {
      await server.kill();
    }
    const forward = await lab.exec(lab.node.ns, ['sysctl', '-n', 'net.ipv4.ip_forward']);
    assert.equal(forward.stdout.trim(), '1');
  });

  it('stops and restarts a backend server: refused while stopped, answering again after', async () => {
    const client = lab.clients[0]!;
    const pod = lab.pods[1]!;
    await lab.stopServer(pod);
    const down = await runProbe(lab, client.ns, [
      'banner',
      pod.ip,
      '9000',
      '--count',
      '1',
      '--timeout-ms',
      '2000',
    ]);
    assert.equal(down.names.length, 0);
    assert.match(down.failures[0] ?? '', /ECONNREFUSED/);
    await lab.startServer(pod);
    const up = await runProbe(lab, client.ns, ['banner', pod.ip, '9000']);
    assert.deepEqual(up.names, [pod.name]);
  });

  it('refuses to run commands outside its own namespaces', async () => {
    await assert.rejects(lab.exec('kpt-someone-else', ['true']), { code: 'KPROXY_LAB' });
  });
});

describe('lab teardown', { skip }, () => {
  it('destroy removes every namespace and process, and may be called twice', async () => {
    const lab = await createLab({ tag: 'labdn', clients: 1, pods: 1 });
    const sleeper = lab.spawn(lab.clients[0]!.ns, ['sleep', '600']);
    await lab.destroy();
    await lab.destroy();
    const present = await namespaces();
    for (const ns of lab.namespaces) assert.ok(!present.includes(ns), `${ns} left behind`);
    assert.equal(sleeper.child.signalCode, 'SIGKILL');
  });

  it('rejects a bad tag before creating anything', async () => {
    await assert.rejects(createLab({ tag: 'Bad Tag' }), { code: 'KPROXY_LAB' });
  });
});
