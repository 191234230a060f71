import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';
import { createLab, type Lab } from '../../lab/lab.ts';
import type { ProbeResult } from '../../lab/probe.ts';
import { runProbe } from '../../lab/run_probe.ts';
import type { ServicePortState } from '../../model/types.ts';
import { planOptions, servicePort } from './testing/fixtures.ts';
import { type LabProxier, startLabProxier } from './testing/lab_proxier.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'iptables-save', 'conntrack'],
});

// Lab addresses: node 198.18.0.1, client 198.18.1.2, pods 198.18.101.2-198.18.103.2 (banner and UDP on
// 9000), VIPs 198.19.0.0/16. The Proxier runs in the node namespace as root: portal rules are installed
// there, and clients connect to the VIPs exactly as a pod would.
const PROBE = new URL('../../lab/probe.ts', import.meta.url).href;

describe('userspace mode in a lab (portal rules, real traffic)', { skip }, () => {
  let lab: Lab;
  let proxier: LabProxier;
  let pods: string[];
  const web = (endpoints = pods): ServicePortState =>
    servicePort({ serviceName: 'web', clusterIPs: ['198.19.0.10'], port: 80, nodePort: 30080, endpoints });
  const sticky = (): ServicePortState =>
    servicePort({
      serviceName: 'sticky',
      clusterIPs: ['198.19.0.11'],
      port: 80,
      sessionAffinity: { type: 'ClientIP', timeoutSeconds: 1 },
      endpoints: pods,
    });
  const dns = (): ServicePortState =>
    servicePort({
      serviceName: 'dns',
      portName: 'dns',
      protocol: 'UDP',
      clusterIPs: ['198.19.0.53'],
      port: 53,
      endpoints: pods,
    });

  const probe = (ns: string, args: readonly string[]): Promise<ProbeResult> => runProbe(lab, ns, args);
  const client = (): string => lab.clients[0]!.ns;

  before(async () => {
    lab = await createLab({ tag: 'us', clients: 1, pods: 3 });
    pods = lab.pods.map((p) => `${p.ip}:9000`);
    proxier = startLabProxier(lab, planOptions({ nodeIPs: [lab.node.ip], udpIdleTimeoutMs: 250 }));
    const reply = await proxier.sync([web(), sticky(), dns()]);
    assert.equal(reply.stats?.portals, true);
  });
  after(async () => {
    await proxier?.stop();
    await lab?.destroy();
  });

  it('spreads connections to a cluster IP over 3 backends in exact round-robin order', async () => {
    const { names, failures } = await probe(client(), ['banner', '198.19.0.10', '80', '--count', '9']);
    assert.deepEqual(failures, []);
    const start = names.indexOf('pod0');
    const order = ['pod0', 'pod1', 'pod2'];
    assert.deepEqual(
      names,
      names.map((_, i) => order[(i + 3 - start) % 3]),
    );
    assert.deepEqual(new Set(names), new Set(order));
  });

  it('serves the VIP to processes on the node itself, and the node port on the node address', async () => {
    const fromNode = await probe(lab.node.ns, ['banner', '198.19.0.10', '80', '--count', '3']);
    assert.equal(fromNode.names.length, 3, fromNode.failures.join('; '));
    const nodePort = await probe(client(), ['banner', lab.node.ip, '30080', '--count', '3']);
    assert.equal(nodePort.names.length, 3, nodePort.failures.join('; '));
    assert.equal(new Set(nodePort.names).size, 3);
  });

  it('keeps a client on one backend with ClientIP affinity, until the timeout passes', async () => {
    const first = await probe(client(), ['banner', '198.19.0.11', '80', '--count', '5']);
    assert.equal(first.names.length, 5);
    assert.equal(new Set(first.names).size, 1, `affinity broken: ${first.names}`);
    await new Promise((resolve) => setTimeout(resolve, 1300)); // the affinity timeout is real time here
    const later = await probe(client(), ['banner', '198.19.0.11', '80', '--count', '2']);
    assert.notEqual(later.names[0], first.names[0]);
    assert.equal(later.names[1], later.names[0]);
  });

  it('hides a killed backend: no client connection fails', async () => {
    await lab.stopServer(lab.pods[1]!);
    try {
      const { names, failures } = await probe(client(), ['banner', '198.19.0.10', '80', '--count', '12']);
      assert.deepEqual(failures, []);
      assert.equal(names.length, 12);
      assert.ok(!names.includes('pod1'));
    } finally {
      await lab.startServer(lab.pods[1]!);
    }
  });

  it('lets an open stream to a removed endpoint finish, and sends new connections elsewhere', async () => {
    const stream = lab.spawnNode(client(), PROBE, ['stream', '198.19.0.10', '80']);
    const lines = createInterface({ input: stream.child.stdout! });
    const next = (): Promise<{ event: string; name?: string; line?: string }> =>
      new Promise((resolve) => lines.once('line', (l) => resolve(JSON.parse(l))));
    try {
      const connected = await next();
      assert.equal(connected.event, 'connected');
      const victim = `${lab.pods.find((p) => p.name === connected.name)!.ip}:9000`;
      await proxier.sync([web(pods.filter((p) => p !== victim)), sticky(), dns()]);
      const { names } = await probe(client(), ['banner', '198.19.0.10', '80', '--count', '6']);
      assert.ok(!names.includes(connected.name!), `${connected.name} still gets connections: ${names}`);
      stream.child.stdin!.write('after removal\n');
      assert.deepEqual(await next(), { event: 'echo', line: 'after removal' });
      stream.child.stdin!.end();
      assert.deepEqual(await next(), { event: 'end' });
    } finally {
      await stream.kill();
      await proxier.sync([web(), sticky(), dns()]);
    }
  });

  it('relays UDP request/response, one flow per client address, which idles out', async () => {
    const { names, failures } = await probe(client(), ['udp', '198.19.0.53', '53', '--count', '3']);
    assert.deepEqual(failures, []);
    assert.equal(new Set(names).size, 1, 'one client socket = one flow = one backend');
    const deadline = performance.now() + 3000;
    while ((await proxier.stats()).udp.flows > 0) {
      assert.ok(performance.now() < deadline, 'the UDP flow did not idle out');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok((await proxier.stats()).udp.flowsIdledOut >= 1);
    const fresh = await probe(client(), ['udp', '198.19.0.53', '53', '--count', '2', '--fresh']);
    assert.equal(fresh.names.length, 2);
    assert.notEqual(fresh.names[0], fresh.names[1], 'new client addresses are balanced');
  });

  it('removes a deleted service: its VIP stops answering, its rules and its UDP conntrack entries go', async () => {
    const flows = async (): Promise<number> => {
      const r = await lab.exec(lab.node.ns, ['conntrack', '-L', '-p', 'udp', '--orig-dst', '198.19.0.53']);
      return r.stdout.split('\n').filter((l) => l.includes('198.19.0.53')).length;
    };
    const answered = await probe(client(), ['udp', '198.19.0.53', '53', '--count', '1']);
    assert.equal(answered.names.length, 1);
    assert.ok((await flows()) >= 1, 'the REDIRECTed UDP flow has a conntrack entry');
    await proxier.sync([web(), sticky()]);
    assert.equal(await flows(), 0, 'the UDP conntrack entries to the removed VIP are gone');
    const saved = await lab.exec(lab.node.ns, ['iptables-save', '-t', 'nat']);
    assert.doesNotMatch(saved.stdout, /198\.19\.0\.53/);
    const udp = await probe(client(), ['udp', '198.19.0.53', '53', '--count', '1', '--timeout-ms', '500']);
    assert.equal(udp.names.length, 0);
    await proxier.sync([web(), sticky(), dns()]);
  });

  it('leaves no rule behind after cleanup', async () => {
    const before = await lab.exec(lab.node.ns, ['iptables-save']);
    assert.match(before.stdout, /KUBE-PORTALS-CONTAINER/);
    await proxier.cleanup();
    await proxier.cleanup();
    const saved = await lab.exec(lab.node.ns, ['iptables-save']);
    assert.doesNotMatch(saved.stdout, /KUBE-(PORTALS|NODEPORT)/);
  });
});
