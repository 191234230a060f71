/**
 * The dual-stack scenario of the ipvs mode, run inside the test guest by ipvs_dual_stack_guest_test.ts (one
 * boot): a node namespace where the daemon's {@link DualStackProxier} runs the ipvs mode's two Proxiers
 * (IPv4 and IPv6, as `kproxy run` does on a host that can serve both), a client namespace and three pod
 * namespaces with real dual-stack TCP and UDP servers; real connections and datagrams over both families
 * (and the node's UDP conntrack entries before and after an endpoint leaves); one JSON report line
 * (`KPT-REPORT {...}`) for the test to assert on. It asserts nothing itself and always tears down.
 *
 * Addresses: client 198.18.5.2 / 2001:2:0:c0::2 → node 198.18.5.1 / 2001:2:0:c0::1 (the NodePort
 * addresses); pods 198.19.1.1-3 / 2001:2:0:1::1-3 on a bridge with the node at .254 / ::fe; VIPs
 * 198.18.0.x / 2001:2:0:f::x.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import pino from 'pino';
import { createExec, mustExec } from '../../../kernel/exec.ts';
import { probeIpv6 } from '../../../kernel/ip_family_support.ts';
import { planOptions } from '../../../model/testing/fixtures.ts';
import { availableFamilies, DualStackProxier } from '../../dual_stack.ts';
import { ipvsMode } from '../index.ts';
import { changeOf, endpoints, endpoints6, proxierDeps, service, stateOf } from './fixtures.ts';

const id = process.pid % 10000;
const NODE = `kpt-ivn6-${id}`;
const CLIENT = `kpt-ivc6-${id}`;
const PODS = [1, 2, 3].map((i) => ({
  ns: `kpt-ivp6${i}-${id}`,
  ip: `198.19.1.${i}`,
  ip6: `2001:2:0:1::${i}`,
  name: `pod${i}`,
}));
const root = createExec();
const node = createExec({ netns: NODE });
const servers: ChildProcess[] = [];

async function sh(args: string[]): Promise<void> {
  await mustExec(root, args[0]!, args.slice(1));
}

/** Both families on `ns`'s eth0 (no DAD: the addresses are usable at once), with default routes. */
async function attach(
  ns: string,
  peer: string,
  nodeSide: string[][],
  addresses: { v4: string; v6: string; gw4: string; gw6: string },
): Promise<void> {
  await sh(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', peer, 'netns', NODE]);
  for (const args of nodeSide) await sh(['ip', '-n', NODE, ...args]);
  await sh(['ip', '-n', ns, 'addr', 'add', addresses.v4, 'dev', 'eth0']);
  await sh(['ip', '-n', ns, 'addr', 'add', addresses.v6, 'dev', 'eth0', 'nodad']);
  await sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  await sh(['ip', '-n', ns, 'route', 'add', 'default', 'via', addresses.gw4]);
  await sh(['ip', '-n', ns, '-6', 'route', 'add', 'default', 'via', addresses.gw6]);
}

/** A TCP server on [::]:8080 (both families): says its name, then echoes; a UDP one on [::]:5353 answers its name. */
const SERVER = `
  const name = process.argv[1];
  const udp = require('node:dgram').createSocket('udp6');
  udp.on('message', (m, from) => udp.send(name, from.port, from.address));
  udp.bind(5353, '::', () => {
    require('node:net').createServer((s) => { s.write(name + '\\n'); s.pipe(s); s.on('error', () => {}); })
      .listen(8080, '::', () => console.log('listening'));
  });`;

async function topology(): Promise<void> {
  for (const ns of [NODE, CLIENT, ...PODS.map((p) => p.ns)]) {
    await sh(['ip', 'netns', 'add', ns]);
    await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  // The node routes IPv6 between client and pods: upstream's ipvs proxier sets net.ipv4.ip_forward only.
  await sh(['ip', 'netns', 'exec', NODE, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  await sh(['ip', '-n', NODE, 'link', 'add', 'kptbr', 'type', 'bridge']);
  await sh(['ip', '-n', NODE, 'addr', 'add', '198.19.1.254/24', 'dev', 'kptbr']);
  await sh(['ip', '-n', NODE, 'addr', 'add', '2001:2:0:1::fe/64', 'dev', 'kptbr', 'nodad']);
  await sh(['ip', '-n', NODE, 'link', 'set', 'kptbr', 'up']);
  const listening: Promise<void>[] = [];
  for (const [i, pod] of PODS.entries()) {
    const peer = `kptp${i}`;
    await attach(pod.ns, peer, [['link', 'set', peer, 'master', 'kptbr', 'up']], {
      v4: `${pod.ip}/24`,
      v6: `${pod.ip6}/64`,
      gw4: '198.19.1.254',
      gw6: '2001:2:0:1::fe',
    });
    const child = spawn('ip', ['netns', 'exec', pod.ns, process.execPath, '-e', SERVER, pod.name], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    servers.push(child);
    listening.push(new Promise((resolve) => child.stdout.once('data', () => resolve())));
  }
  const nodeSide = [
    ['addr', 'add', '198.18.5.1/24', 'dev', 'kptc0'],
    ['addr', 'add', '2001:2:0:c0::1/64', 'dev', 'kptc0', 'nodad'],
    ['link', 'set', 'kptc0', 'up'],
  ];
  await attach(CLIENT, 'kptc0', nodeSide, {
    v4: '198.18.5.2/24',
    v6: '2001:2:0:c0::2/64',
    gw4: '198.18.5.1',
    gw6: '2001:2:0:c0::1',
  });
  await within(30_000, 'servers listening', Promise.all(listening));
}

/**
 * `count` connections, one after the other, from namespace `ns` (one process): each the server's name,
 * `REFUSED` (a TCP reset or an ICMP(v6) port unreachable, which Linux reports alike), or `ERR:<code>`.
 */
async function connections(ns: string, host: string, port: number, count: number): Promise<string[]> {
  const script = `
    const net = require('node:net');
    const one = () => new Promise((resolve) => {
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${port} });
      s.setTimeout(3000, () => { s.destroy(); resolve('ERR:TIMEOUT'); });
      s.once('data', (d) => { s.destroy(); resolve(String(d).split('\\n')[0]); });
      s.once('error', (e) => resolve(e.code === 'ECONNREFUSED' ? 'REFUSED' : 'ERR:' + e.code));
    });
    (async () => { const out = []; for (let i = 0; i < ${count}; i++) out.push(await one()); console.log(JSON.stringify(out)); })();`;
  const result = await root('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
  try {
    return JSON.parse(result.stdout) as string[];
  } catch {
    return [`ERR:client exit ${result.code}: ${result.stderr.trim()}`];
  }
}

/**
 * One UDP datagram from namespace `ns`, from a fixed source port (so a second one reuses the conntrack
 * entry of the first): the name of the server that answers, or `ERR:TIMEOUT`.
 */
async function datagram(ns: string, host: string, port: number): Promise<string> {
  const script = `
    const s = require('node:dgram').createSocket(${JSON.stringify(host.includes(':') ? 'udp6' : 'udp4')});
    const t = setTimeout(() => { console.log('ERR:TIMEOUT'); process.exit(0); }, 2000);
    s.on('message', (m) => { clearTimeout(t); console.log(String(m)); process.exit(0); });
    s.bind(40053, () => s.send('hi', ${port}, ${JSON.stringify(host)}));`;
  const result = await root('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
  return result.stdout.trim() || `ERR:client exit ${result.code}: ${result.stderr.trim()}`;
}

/** The node's UDP conntrack entries to `vip` (`conntrack -L`, one line each). */
async function udpEntries(vip: string): Promise<string[]> {
  const family = vip.includes(':') ? 'ipv6' : 'ipv4';
  const result = await node('conntrack', ['-L', '-p', 'udp', '-f', family, '--orig-dst', vip]);
  return result.stdout.split('\n').filter((l) => l.includes(vip));
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

async function main(): Promise<Record<string, unknown>> {
  const report: Record<string, unknown> = {};
  step('topology');
  await topology();
  const options = planOptions({
    nodeIPs: ['198.18.5.1', '2001:2:0:c0::1'],
    clusterCIDRs: ['198.19.1.0/24', '2001:2:0:1::/64'],
  });
  const deps = proxierDeps(node, options);
  step('host check');
  const log = pino({ level: 'silent' });
  const { families, unavailable } = await availableFamilies(ipvsMode, deps, probeIpv6, log);
  report['families'] = families;
  report['unavailable'] = Object.fromEntries(unavailable);
  const proxier = new DualStackProxier(ipvsMode, deps, families);
  const ips = PODS.map((p) => p.ip);
  const ips6 = PODS.map((p) => p.ip6);
  const dual = ['IPv4', 'IPv6'] as const;
  // Every pod is on this node: its endpoints are local, so a pod reaching itself through a VIP is
  // masqueraded by the hairpin rule (KUBE-LOOP-BACK / KUBE-6-LOOP-BACK).
  const web = service('web', { ipFamilies: dual, clusterIPs: ['198.18.0.10', '2001:2:0:f::10'] });
  const sticky6 = service('sticky6', {
    ipFamilies: ['IPv6'],
    clusterIPs: ['2001:2:0:f::11'],
    sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
  });
  const empty6 = service('empty6', { ipFamilies: ['IPv6'], clusterIPs: ['2001:2:0:f::12'] });
  const np = service('np', {
    ipFamilies: dual,
    type: 'NodePort',
    clusterIPs: ['198.18.0.13', '2001:2:0:f::13'],
    ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
  });
  const v4only = service('v4only', { clusterIPs: ['198.18.0.20'] });
  const dns = service('dns', {
    ipFamilies: dual,
    clusterIPs: ['198.18.0.53', '2001:2:0:f::53'],
    ports: [{ name: 'p', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 0 }],
  });
  // One endpoint, pod1: pod1 reaching this VIP always comes back to itself (hairpin). Hairpin to another
  // pod on the bridge would need br_netfilter (as upstream's ipvs mode), which this topology does not load.
  const self = service('self', { ipFamilies: dual, clusterIPs: ['198.18.0.15', '2001:2:0:f::15'] });
  /** The dns Service's slices: the IPv4 and the IPv6 endpoints of some pods, each family its own. */
  const dnsSlices = (v4: readonly (typeof PODS)[number][], v6: readonly (typeof PODS)[number][]) => [
    endpoints(
      dns,
      v4.map((p) => p.ip),
      { port: 5353 },
    ),
    endpoints6(
      dns,
      v6.map((p) => p.ip6),
      { port: 5353 },
    ),
  ];
  const state = stateOf([
    [dns, ...dnsSlices(PODS.slice(0, 2), PODS.slice(0, 2))],
    [web, endpoints(web, ips, { local: ips }), endpoints6(web, ips6, { local: ips6 })],
    [sticky6, endpoints6(sticky6, ips6, { local: ips6 })],
    [empty6],
    [np, endpoints(np, ips.slice(0, 2), { local: ips }), endpoints6(np, ips6.slice(0, 2), { local: ips6 })],
    [v4only, endpoints(v4only, ips, { local: ips })],
    [self, endpoints(self, [PODS[0]!.ip], { local: ips }), endpoints6(self, [PODS[0]!.ip6], { local: ips6 })],
  ]);
  try {
    step('first sync');
    await proxier.sync(state, changeOf(state));
    step('full sync (each family must leave the other alone)');
    await proxier.sync(state, changeOf(state), { full: true });
    const listing = (await node('ipvsadm', ['-Ln'])).stdout;
    report['virtualServers'] = listing
      .split('\n')
      .filter((l) => /^(TCP|UDP|SCTP) /.test(l))
      .map((l) => l.split(/\s+/)[1]);
    report['sticky6Listing'] = listing.split('\n').find((l) => l.includes('[2001:2:0:f::11]:80')) ?? '';
    report['bound'] = JSON.parse(
      (await node('ip', ['-j', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout,
    )[0].addr_info.map((a: { local: string }) => a.local);
    report['ip6tablesV4only'] = (await node('ip6tables-save', [])).stdout
      .split('\n')
      .filter((l) => l.includes('198.18.0.20') || l.includes('v4only'));
    report['sets6'] = (await node('ipset', ['list', '-n'])).stdout
      .split('\n')
      .filter((n) => n.startsWith('KUBE-6-'));
    report['clusterIP6'] = (await node('ipset', ['list', 'KUBE-6-CLUSTER-IP'])).stdout
      .split('\n')
      .filter((l) => l.startsWith('2001:'));

    step('connections');
    report['web4'] = await connections(CLIENT, '198.18.0.10', 80, 6);
    report['web6'] = await connections(CLIENT, '2001:2:0:f::10', 80, 6);
    report['sticky6'] = await connections(CLIENT, '2001:2:0:f::11', 80, 5);
    report['empty6'] = await connections(CLIENT, '2001:2:0:f::12', 80, 1);
    report['unserved6'] = await connections(CLIENT, '2001:2:0:f::10', 81, 1);
    report['nodePort6'] = await connections(CLIENT, '2001:2:0:c0::1', 30080, 4);
    report['nodePort4'] = await connections(CLIENT, '198.18.5.1', 30080, 4);
    report['v4only6'] = await connections(CLIENT, '2001:2:0:f::20', 80, 1);
    report['hairpin6'] = await connections(PODS[0]!.ns, '2001:2:0:f::15', 80, 3);
    report['hairpin4'] = await connections(PODS[0]!.ns, '198.18.0.15', 80, 3);

    step('UDP conntrack per family');
    const udp: Record<string, unknown> = {};
    udp['first6'] = await datagram(CLIENT, '2001:2:0:f::53', 53);
    udp['first4'] = await datagram(CLIENT, '198.18.0.53', 53);
    udp['entries6Before'] = await udpEntries('2001:2:0:f::53');
    udp['entries4Before'] = await udpEntries('198.18.0.53');
    // The pods that answered leave the Service (each family its own): their entries must go.
    const dnsNext = dnsSlices(
      PODS.slice(0, 2).filter((p) => p.name !== udp['first4']),
      PODS.slice(0, 2).filter((p) => p.name !== udp['first6']),
    );
    const next = stateOf([
      [dns, ...dnsNext],
      [web, endpoints(web, ips, { local: ips }), endpoints6(web, ips6, { local: ips6 })],
    ]);
    await proxier.sync(next, changeOf(next));
    udp['entries6After'] = await udpEntries('2001:2:0:f::53');
    udp['entries4After'] = await udpEntries('198.18.0.53');
    udp['second6'] = await datagram(CLIENT, '2001:2:0:f::53', 53);
    udp['second4'] = await datagram(CLIENT, '198.18.0.53', 53);
    report['udp'] = udp;

    step('cleanup');
    await proxier.stop();
    await ipvsMode.cleanup(deps);
    report['afterCleanup'] = {
      ipvs: (await node('ipvsadm', ['-Ln'])).stdout.split('\n').filter((l) => /^(TCP|UDP|SCTP) /.test(l)),
      dummy: (await node('ip', ['link', 'show', 'kube-ipvs0'])).code,
      sets: (await node('ipset', ['list', '-n'])).stdout,
      ip6tables: (await node('ip6tables-save', [])).stdout.split('\n').filter((l) => l.includes('KUBE')),
    };
  } finally {
    await proxier.stop();
  }
  return report;
}

try {
  const report = await main();
  console.log(`KPT-REPORT ${JSON.stringify(report)}`);
} finally {
  for (const child of servers) child.kill('SIGKILL');
  for (const ns of [NODE, CLIENT, ...PODS.map((p) => p.ns)]) await root('ip', ['netns', 'del', ns]);
}
