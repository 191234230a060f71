/**
 * The real-kernel scenario of the ipvs mode, run inside the test guest by ipvs_guest_test.ts (one boot):
 * builds a node namespace (the "node", where the Proxier programs IPVS), a client namespace and three pod
 * namespaces with real TCP servers, drives the Proxier through several states, sends real connections,
 * and prints one JSON report line (`KPT-REPORT {...}`) for the test to assert on. It asserts nothing itself
 * and always tears everything down.
 *
 * Addresses: client 198.18.5.2 → node 198.18.5.1 (NodePort address); pods 198.19.1.1-3 on a bridge with the
 * node at 198.19.1.254; VIPs 198.18.0.10-15.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createExec, mustExec } from '../../../kernel/exec.ts';
import { planOptions } from '../../../model/testing/fixtures.ts';
import { ipvsMode } from '../index.ts';
import { createIpvsProxier } from '../proxier.ts';
import { changeOf, endpoints, proxierDeps, service, stateOf } from './fixtures.ts';

const id = process.pid % 10000;
const NODE = `kpt-ivn-${id}`;
const CLIENT = `kpt-ivc-${id}`;
const PODS = [1, 2, 3].map((i) => ({ ns: `kpt-ivp${i}-${id}`, ip: `198.19.1.${i}`, name: `pod${i}` }));
const root = createExec();
const node = createExec({ netns: NODE });
const backends: ChildProcess[] = [];

async function sh(args: string[]): Promise<void> {
  await mustExec(root, args[0]!, args.slice(1));
}

/**
 * Gives namespace `ns` an eth0 at `address` (default route via `gateway`) whose veth peer `peer` sits in
 * the node, set up there by the `ip` commands `nodeSide` right after it appears.
 */
async function attach(
  ns: string,
  peer: string,
  nodeSide: string[][],
  address: string,
  gateway: string,
): Promise<void> {
  await sh(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', peer, 'netns', NODE]);
  for (const args of nodeSide) await sh(['ip', '-n', NODE, ...args]);
  await sh(['ip', '-n', ns, 'addr', 'add', address, 'dev', 'eth0']);
  await sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  await sh(['ip', '-n', ns, 'route', 'add', 'default', 'via', gateway]);
}

async function topology(): Promise<void> {
  for (const ns of [NODE, CLIENT, ...PODS.map((p) => p.ns)]) {
    await sh(['ip', 'netns', 'add', ns]);
    await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  await sh(['ip', '-n', NODE, 'link', 'add', 'kptbr', 'type', 'bridge']);
  await sh(['ip', '-n', NODE, 'addr', 'add', '198.19.1.254/24', 'dev', 'kptbr']);
  await sh(['ip', '-n', NODE, 'link', 'set', 'kptbr', 'up']);
  for (const [i, pod] of PODS.entries()) {
    const peer = `kptp${i}`;
    await attach(
      pod.ns,
      peer,
      [['link', 'set', peer, 'master', 'kptbr', 'up']],
      `${pod.ip}/24`,
      '198.19.1.254',
    );
    // A real server: says its name, then echoes (so a held connection can prove it still works).
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        pod.ns,
        'busybox',
        'nc',
        '-ll',
        '-p',
        '8080',
        '-e',
        '/bin/sh',
        '-c',
        `echo ${pod.name}; exec cat`,
      ],
      { stdio: 'ignore' },
    );
    backends.push(child);
  }
  const nodeSide = [
    ['addr', 'add', '198.18.5.1/24', 'dev', 'kptc0'],
    ['link', 'set', 'kptc0', 'up'],
  ];
  await attach(CLIENT, 'kptc0', nodeSide, '198.18.5.2/24', '198.18.5.1');
}

/** One connection from namespace `from` (default the client): the backend's name, or `ERR:<reason>`. */
async function connect(host: string, port: number, from = CLIENT): Promise<string> {
  const result = await root('ip', ['netns', 'exec', from, 'busybox', 'nc', '-w', '3', host, String(port)], {
    input: 'x\n',
  });
  const first = result.stdout.split('\n')[0] ?? '';
  return first !== '' ? first : `ERR:${result.code}:${result.stderr.trim()}`;
}

async function connections(host: string, port: number, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push(await connect(host, port));
  return names;
}

/**
 * A connection held open by a node client in the client namespace: resolves with the banner; `say` sends a
 * line and resolves with its echo; `reset` aborts it with a TCP reset (IPVS then forgets it after its
 * CLOSE timeout of 10 s, where a graceful close would linger 2 minutes in TIME_WAIT).
 */
function holdConnection(host: string, port: number) {
  const script = `
    const s = require('node:net').connect(${port}, '${host}');
    s.setEncoding('utf8');
    s.on('data', (d) => process.stdout.write(d));
    s.on('error', () => process.exit(1));
    require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
      if (l === 'reset') { s.resetAndDestroy(); setTimeout(() => process.exit(0), 100); } else s.write(l + '\\n');
    });`;
  const child = spawn('ip', ['netns', 'exec', CLIENT, process.execPath, '-e', script], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  let buffer = '';
  const waiters: ((line: string) => void)[] = [];
  child.stdout.on('data', (b: Buffer) => {
    buffer += b.toString();
    for (;;) {
      const at = buffer.indexOf('\n');
      if (at < 0) break;
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      waiters.shift()?.(line);
    }
  });
  const next = () => new Promise<string>((resolve) => waiters.push(resolve));
  return {
    banner: next(),
    say: (line: string) => {
      const echo = next();
      child.stdin.write(`${line}\n`);
      return echo;
    },
    reset: () =>
      new Promise<void>((resolve) => {
        child.on('close', () => resolve());
        child.stdin.write('reset\n');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/** Fails a step that takes longer than it may (a hung step must not hang the guest until its timeout). */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`Step timed out after ${ms} ms: ${what}`)), ms).unref(),
    ),
  ]);
}

function step(name: string): void {
  console.error(`step: ${name} at ${Math.round(performance.now())} ms`);
}

/**
 * The packet counter of the local-detection rule (nat KUBE-SERVICES: KUBE-CLUSTER-IP destinations not from
 * a pod, `! -s CIDR` or `! -i BRIDGE`, jump to KUBE-MARK-MASQ) and the rule itself; counter -1 when absent.
 * Only a connection's first packet traverses the nat table, so the counter counts connections.
 */
async function localDetectionRule(): Promise<{ rule: string; packets: number }> {
  const saved = (await node('iptables-save', ['-c', '-t', 'nat'])).stdout.split('\n');
  // iptables-save writes the `! -s` / `! -i` match first, whatever the order the rule was written in.
  const line = saved.find(
    (l) =>
      l.includes(' -A KUBE-SERVICES ') &&
      l.includes('--match-set KUBE-CLUSTER-IP dst,dst') &&
      / ! -[si] /.test(l) &&
      l.endsWith(' -j KUBE-MARK-MASQ'),
  );
  const packets = line === undefined ? -1 : Number(/^\[(\d+):/.exec(line)?.[1] ?? -1);
  return { rule: line?.replace(/^\[\d+:\d+\] /, '') ?? '', packets };
}

/**
 * One round of the local-detection phase: two connections from the client and two from pod1 to the VIP
 * 198.18.0.15 (whose one endpoint is pod2), with the rule's counter after each, and the node's conntrack
 * entries of that VIP (their reply destination shows whether the source was masqueraded).
 */
async function localDetectionRound(): Promise<Record<string, unknown>> {
  await node('conntrack', ['-D', '-p', 'tcp', '--orig-dst', '198.18.0.15']);
  const before = await localDetectionRule();
  const fromClient = await connections('198.18.0.15', 80, 2);
  const afterClient = (await localDetectionRule()).packets;
  const fromPod = [
    await connect('198.18.0.15', 80, PODS[0]!.ns),
    await connect('198.18.0.15', 80, PODS[0]!.ns),
  ];
  const afterPod = (await localDetectionRule()).packets;
  const entries = (await node('conntrack', ['-L', '-p', 'tcp', '--orig-dst', '198.18.0.15'])).stdout;
  return {
    rule: before.rule,
    fromClient,
    fromPod,
    clientMarked: afterClient - before.packets,
    podMarked: afterPod - afterClient,
    conntrack: entries.split('\n').filter((l) => l.includes('dst=198.18.0.15')),
  };
}

async function ipvsList(): Promise<string> {
  return (await node('ipvsadm', ['-Ln', '--exact'])).stdout;
}

async function main(): Promise<Record<string, unknown>> {
  const report: Record<string, unknown> = {};
  step('topology');
  await topology();
  step('check host');
  const options = planOptions({ nodeIPs: ['198.18.5.1'], clusterCIDRs: ['198.19.1.0/24'] });
  const deps = proxierDeps(node, options);
  await ipvsMode.checkHost(deps);
  // Node settings (tuning.ts), as `--ipvs-strict-arp --ipvs-exclude-cidrs 198.18.9.0/24 --ipvs-tcp-timeout
  // 30m --ipvs-tcpfin-timeout 60s --ipvs-udp-timeout 200s` set them (not the kernel's 900/120/300 s).
  const proxier = createIpvsProxier(deps, {
    gracefulCheckIntervalMs: 500,
    tuning: {
      strictARP: true,
      excludeCIDRs: ['198.18.9.0/24'],
      tcpTimeoutMs: 1_800_000,
      tcpFinTimeoutMs: 60_000,
      udpTimeoutMs: 200_000,
    },
  });
  // Another agent's virtual server, in the excluded CIDR: a sync must leave it.
  await node('ipvsadm', ['-A', '-t', '198.18.9.1:80', '-s', 'rr']);
  const ips = PODS.map((p) => p.ip);
  const web = service('web', { clusterIPs: ['198.18.0.10'] });
  const sticky = service('sticky', {
    clusterIPs: ['198.18.0.11'],
    sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
  });
  const hashed = service('hashed', {
    clusterIPs: ['198.18.0.12'],
    annotations: { 'kproxy.io/ipvs-scheduler': 'sh' },
  });
  // Only the held connection ever reaches this service, so its drain is not delayed by TIME_WAIT entries.
  const drain = service('drain', { clusterIPs: ['198.18.0.14'] });
  const np = service('np', {
    type: 'NodePort',
    clusterIPs: ['198.18.0.13'],
    ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
  });
  const full = stateOf([
    [web, endpoints(web, ips)],
    [sticky, endpoints(sticky, ips)],
    [hashed, endpoints(hashed, ips)],
    [np, endpoints(np, ips.slice(0, 2))],
    [drain, endpoints(drain, ips)],
  ]);
  let bridgeProxier: ReturnType<typeof createIpvsProxier> | undefined;
  try {
    step('first sync');
    let started = performance.now();
    await proxier.sync(full, changeOf(full));
    report['firstSyncMs'] = Math.round(performance.now() - started);
    started = performance.now();
    await proxier.sync(full, changeOf(full));
    report['noopSyncMs'] = Math.round(performance.now() - started);
    report['tuning'] = {
      arpIgnore: (await node('sysctl', ['-n', 'net.ipv4.conf.all.arp_ignore'])).stdout.trim(),
      arpAnnounce: (await node('sysctl', ['-n', 'net.ipv4.conf.all.arp_announce'])).stdout.trim(),
      timeouts: (await node('ipvsadm', ['-L', '--timeout'])).stdout.trim(),
      excludedKept: (await ipvsList()).includes('198.18.9.1:80'),
    };
    await node('ipvsadm', ['-D', '-t', '198.18.9.1:80']);
    step('connections');
    report['rr'] = await connections('198.18.0.10', 80, 6);
    report['sticky'] = await connections('198.18.0.11', 80, 5);
    report['sh'] = await connections('198.18.0.12', 80, 5);
    report['nodePort'] = await connections('198.18.5.1', 30080, 4);
    report['unservedPort'] = await connect('198.18.0.10', 81);

    // Graceful termination: hold a connection, remove its backend, watch it drain.
    step('hold a connection');
    const held = holdConnection('198.18.0.14', 80);
    const heldBy = await within(10_000, 'banner of the held connection', held.banner);
    report['heldBy'] = heldBy;
    const remainingEntries = [
      [web, endpoints(web, ips)],
      [sticky, endpoints(sticky, ips)],
      [hashed, endpoints(hashed, ips)],
      [np, endpoints(np, ips.slice(0, 2))],
      [
        drain,
        endpoints(
          drain,
          PODS.filter((p) => p.name !== heldBy).map((p) => p.ip),
        ),
      ],
    ] as const;
    const remaining = stateOf(remainingEntries);
    step('remove its backend');
    await proxier.sync(remaining, changeOf(remaining));
    report['drainingAfterRemoval'] = proxier.draining;
    report['listingWhileDraining'] = await ipvsList();
    report['newWhileDraining'] = await connections('198.18.0.14', 80, 4);
    report['heldEcho'] = await within(10_000, 'echo on the held connection', held.say('still-here'));
    await within(10_000, 'reset of the held connection', held.reset());
    step('wait for the drain');
    const closedAt = performance.now();
    let gone = false;
    while (!gone && performance.now() - closedAt < 20_000) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      gone = proxier.draining.length === 0;
    }
    report['drainedMs'] = gone ? Math.round(performance.now() - closedAt) : -1;
    report['listingAfterDrain'] = await ipvsList();

    // Local detection (--detect-local-mode): a pod's connection to a VIP is not masqueraded, the client's
    // is. The VIP's one endpoint is pod2 and pod1 connects: no hairpin, so only the detection rule decides.
    // br_netfilter lets the node see (and IPVS un-DNAT) pod2's reply to pod1, bridged on kptbr, as a real
    // node with pods on a bridge needs for an unmasqueraded pod-to-VIP connection.
    step('local detection');
    report['brNetfilter'] = (await root('modprobe', ['br_netfilter'])).code;
    const local = service('local', { clusterIPs: ['198.18.0.15'] });
    const withLocal = stateOf([...remainingEntries, [local, endpoints(local, [PODS[1]!.ip])]]);
    await proxier.sync(withLocal, changeOf(withLocal));
    const clusterCIDR = await localDetectionRound();
    await proxier.stop();
    // The same with `--detect-local-mode BridgeInterface --pod-bridge-interface kptbr`, by a new Proxier.
    bridgeProxier = createIpvsProxier(
      proxierDeps(node, { ...options, localDetector: { mode: 'BridgeInterface', name: 'kptbr' } }),
      { gracefulCheckIntervalMs: 500 },
    );
    await bridgeProxier.sync(withLocal, changeOf(withLocal));
    const bridgeInterface = await localDetectionRound();
    await bridgeProxier.stop();
    report['localDetection'] = { clusterCIDR, bridgeInterface };

    step('cleanup');
    await proxier.stop();
    await ipvsMode.cleanup(deps);
    report['afterCleanup'] = {
      ipvs: await ipvsList(),
      dummy: (await node('ip', ['link', 'show', 'kube-ipvs0'])).code,
      sets: (await node('ipset', ['list', '-n'])).stdout,
      iptables: (await node('iptables-save', [])).stdout.split('\n').filter((l) => l.includes('KUBE')),
    };
  } finally {
    await proxier.stop();
    await bridgeProxier?.stop();
  }
  return report;
}

try {
  const report = await main();
  console.log(`KPT-REPORT ${JSON.stringify(report)}`);
} finally {
  for (const child of backends) child.kill('SIGKILL');
  for (const ns of [NODE, CLIENT, ...PODS.map((p) => p.ns)]) await root('ip', ['netns', 'del', ns]);
}
