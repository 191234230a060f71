/**
 * The userspace mode with one Proxier per IP family, as the daemon runs it (DualStackProxier), over strict
 * fakes: iptables and ip6tables are separate fake tables, and each family's Proxier writes, and removes,
 * its own. The relay's sockets are real (loopback): the two Proxiers bind the same port numbers side by
 * side, IPv4 on `0.0.0.0` and IPv6 on `::` (IPv6-only).
 *
 * Addresses: IPv4 as proxier_test.ts (VIPs 10.96.0.0/16 and 127.0.10.0/24, node 192.168.0.10); IPv6 VIPs
 * fd00:96::/64, endpoints fd00:1::/64, node fd00:192::10, and `::1` for real traffic.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { type Exec, KernelError } from '../../kernel/exec.ts';
import { FakeIptables, type IptablesTool } from '../../kernel/testing/iptables_fake.ts';
import { createLogger } from '../../log.ts';
import { ProxyMetrics } from '../../metrics/proxy_metrics.ts';
import type { IPFamily, StateChange } from '../../model/types.ts';
import { DualStackProxier, traceFamily } from '../dual_stack.ts';
import type { ProxierDeps } from '../mode.ts';
import { conntrackForFamily } from './conntrack.ts';
import { userspaceMode } from './index.ts';
import type { UserspaceProxier } from './proxier.ts';
import { heldRelayMetrics } from './shared_relay_metrics.ts';
import { planOptions, proxyState, servicePort } from './testing/fixtures.ts';
import { readAll } from './testing/loopback.ts';

const CHANGE: StateChange = {
  changed: new Set(),
  removed: new Set(),
  firstSeen: new Map(),
  serviceEvents: 0,
  endpointEvents: 0,
};

const servers: Server[] = [];
const running: DualStackProxier[] = [];
after(async () => {
  for (const p of running) await p.stop();
  for (const s of servers) s.close();
});

/** A banner backend on `host` (127.0.0.1 or ::1). */
async function backend(name: string, host: string): Promise<string> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${name}\n`);
  });
  server.listen(0, host);
  await once(server, 'listening');
  servers.push(server);
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

async function bannerAt(host: string, port: number): Promise<string> {
  const socket = connect({ host, port });
  await once(socket, 'connect');
  return (await readAll(socket)).trim();
}

const TOOL = /^(ip6?)tables-nft(?:-(save|restore))?$/;

/**
 * A fake host with the nft backend only: `iptables-nft*` answer from one strict fake, `ip6tables-nft*` from
 * another that takes only IPv6 addresses; conntrack succeeds; every call is recorded.
 */
function fakeHost(options: { readonly ip6tables?: boolean } = {}): {
  exec: Exec;
  v4: FakeIptables;
  v6: FakeIptables;
  calls: { command: string; args: readonly string[]; input: string }[];
} {
  const calls: { command: string; args: readonly string[]; input: string }[] = [];
  const v4 = new FakeIptables('nft');
  const v6 = new FakeIptables('nft', { family: 'IPv6' });
  const exec: Exec = async (command, args, execOptions) => {
    const input = execOptions?.input ?? '';
    calls.push({ command, args, input });
    const m = TOOL.exec(command);
    if (m !== null && (m[1] === 'ip' || options.ip6tables !== false)) {
      return (m[1] === 'ip6' ? v6 : v4).answer((m[2] ?? 'iptables') as IptablesTool, args, input);
    }
    if (command.includes('tables')) throw new KernelError(command, -1, `spawn ${command} ENOENT`);
    return { code: 0, stdout: '', stderr: '' };
  };
  return { exec, v4, v6, calls };
}

function deps(exec: Exec, overrides: Partial<ProxierDeps> = {}): ProxierDeps {
  return {
    options: planOptions({ nodeIPs: ['192.168.0.10', 'fd00:192::10'] }),
    exec,
    logger: createLogger({ format: 'json', level: 'silent' }),
    iptablesBackend: 'auto',
    ...overrides,
  };
}

function start(d: ProxierDeps): {
  dual: DualStackProxier;
  of: (family: IPFamily) => UserspaceProxier;
} {
  const dual = new DualStackProxier(userspaceMode, d, ['IPv4', 'IPv6']);
  running.push(dual);
  return { dual, of: (family) => dual.proxierOf(family) as UserspaceProxier };
}

const dualWeb = servicePort({
  clusterIPs: ['10.96.0.10', 'fd00:96::10'],
  ipFamilies: ['IPv4', 'IPv6'],
  endpoints: ['127.0.0.1:1', '[fd00:1::1]:8080'],
});

describe('userspace mode, one Proxier per family (fake iptables and ip6tables)', () => {
  it('writes each family\u2019s portal rules to its own table, with proxy ports of the same range', async () => {
    const host = fakeHost();
    const options = planOptions({
      nodeIPs: ['192.168.0.10', 'fd00:192::10'],
      userspacePortals: 'on',
      proxyPortRange: { from: 39400, to: 39420 },
    });
    const { dual, of } = start(deps(host.exec, { options }));
    await dual.sync(proxyState([dualWeb]), CHANGE);
    const [l4] = of('IPv4').stats().listeners;
    const [l6] = of('IPv6').stats().listeners;
    assert.equal(l4?.host, '0.0.0.0');
    assert.equal(l6?.host, '::');
    // IPv6-only binding: the IPv6 proxy socket never takes the IPv4 one's port away from the range.
    assert.ok(l4.port >= 39400 && l6.port >= 39400 && l6.port <= 39420, `${l4.port} ${l6.port}`);
    assert.deepEqual(host.v4.chain('nat', 'KUBE-PORTALS-HOST'), [
      `-m comment --comment default/web:http -p tcp -m tcp --dport 80 -d 10.96.0.10/32 -j DNAT --to-destination 192.168.0.10:${l4.port}`,
    ]);
    // (The fake's save quotes an argument with brackets; the restore input does not, see plan_golden_test.ts.)
    const [rule6, ...more6] = host.v6.chain('nat', 'KUBE-PORTALS-HOST') ?? [];
    assert.deepEqual(more6, []);
    assert.match(
      rule6 ?? '',
      new RegExp(`-d fd00:96::10/128 -j DNAT --to-destination "?\\[fd00:192::10\\]:${l6.port}"?$`),
    );
    const restores = host.calls.filter((c) => c.command.endsWith('-restore')).map((c) => c.command);
    assert.deepEqual(restores, [
      'iptables-nft-restore',
      'iptables-nft-restore',
      'ip6tables-nft-restore',
      'ip6tables-nft-restore',
    ]);
    for (const fake of [host.v4, host.v6]) {
      assert.equal((fake.chain('nat', 'PREROUTING') ?? []).filter((r) => r.includes('-j KUBE-')).length, 2);
    }
    // Both families' rules stay on stop, for the next kproxy (proxier.ts).
    await dual.stop();
    assert.ok(host.v6.chains('nat').includes('KUBE-PORTALS-HOST'));
    assert.ok(host.v4.chains('nat').includes('KUBE-PORTALS-HOST'));
  });

  it('programs nothing in a family a Service does not have', async () => {
    const host = fakeHost();
    const options = planOptions({ nodeIPs: ['192.168.0.10', 'fd00:192::10'], userspacePortals: 'on' });
    const { dual, of } = start(deps(host.exec, { options }));
    const v4only = servicePort({
      serviceName: 'four',
      type: 'NodePort',
      nodePort: 30001,
      endpoints: ['127.0.0.1:1'],
    });
    const v6only = servicePort({
      serviceName: 'six',
      clusterIPs: ['fd00:96::6'],
      ipFamilies: ['IPv6'],
      endpoints: ['[fd00:1::6]:80'],
    });
    await dual.sync(proxyState([v4only, v6only]), CHANGE);
    assert.deepEqual(
      of('IPv4')
        .stats()
        .listeners.map((l) => l.id),
      ['proxy|default/four:http/TCP|internal', 'proxy|default/four:http/TCP|external'],
    );
    assert.deepEqual(
      of('IPv6')
        .stats()
        .listeners.map((l) => l.id),
      ['proxy|default/six:http/TCP|internal'],
    );
    const saved6 = host.v6.answer('save', ['-t', 'nat'], '').stdout;
    assert.doesNotMatch(saved6, /30001|default\/four/);
    assert.doesNotMatch(host.v4.answer('save', ['-t', 'nat'], '').stdout, /fd00|default\/six/);
  });

  it('listens on the same node port on 0.0.0.0 and [::] without portals, each family to its own backends', async () => {
    const a4 = await backend('four', '127.0.0.1');
    const a6 = await backend('six', '::1');
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const nodePort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const host = fakeHost();
    const options = planOptions({ nodeIPs: ['127.0.0.1', '::1'], userspacePortals: 'off' });
    const { dual, of } = start(deps(host.exec, { options }));
    const sp = servicePort({
      type: 'NodePort',
      clusterIPs: ['127.0.10.20', '::1'],
      ipFamilies: ['IPv4', 'IPv6'],
      port: 18090,
      nodePort,
      endpoints: [a4, a6],
    });
    await dual.sync(proxyState([sp]), CHANGE);
    assert.deepEqual(
      of('IPv6')
        .stats()
        .listeners.map((l) => `${l.host} ${l.port}`),
      ['::1 18090', `:: ${nodePort}`],
    );
    assert.equal(await bannerAt('127.0.0.1', nodePort), 'four');
    assert.equal(await bannerAt('::1', nodePort), 'six');
    assert.equal(await bannerAt('127.0.10.20', 18090), 'four');
    assert.equal(await bannerAt('::1', 18090), 'six');
    assert.deepEqual(
      host.calls.filter((c) => c.command.includes('tables')),
      [],
      'portals off: no iptables at all',
    );
  });

  it('deletes the IPv6 UDP conntrack entries with -f ipv6 (a node port names no address)', async () => {
    const calls: string[] = [];
    const exec: Exec = async (command, args) => {
      calls.push([command, ...args].join(' '));
      return {
        code: 1,
        stdout: '',
        stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.',
      };
    };
    const v6 = conntrackForFamily(exec, 'IPv6');
    await v6.deleteUdpToServiceIP('fd00:96::53');
    await v6.deleteUdpToNodePort(30053);
    await conntrackForFamily(exec, 'IPv4').deleteUdpToNodePort(30053);
    assert.deepEqual(calls, [
      'conntrack -D -f ipv6 -p udp --orig-dst fd00:96::53',
      'conntrack -D -f ipv6 -p udp --orig-port-dst 30053',
      'conntrack -D -p udp --orig-port-dst 30053',
    ]);
    const failing: Exec = async () => ({
      code: 1,
      stdout: '',
      stderr: 'Operation failed: invalid parameters',
    });
    await assert.rejects(conntrackForFamily(failing, 'IPv6').deleteUdpToNodePort(1), {
      code: 'KPROXY_KERNEL',
    });
  });

  it('runs the IPv6 Proxier\u2019s conntrack deletions in the IPv6 table when a UDP Service goes', async () => {
    const host = fakeHost();
    const options = planOptions({ nodeIPs: ['192.168.0.10', 'fd00:192::10'], userspacePortals: 'on' });
    const { dual } = start(deps(host.exec, { options }));
    const dns = servicePort({
      serviceName: 'dns',
      protocol: 'UDP',
      port: 53,
      type: 'NodePort',
      nodePort: 30053,
      clusterIPs: ['10.96.0.53', 'fd00:96::53'],
      ipFamilies: ['IPv4', 'IPv6'],
      endpoints: ['127.0.0.1:1', '[fd00:1::3]:53'],
    });
    await dual.sync(proxyState([dns]), CHANGE);
    await dual.sync(proxyState([], 2), CHANGE);
    assert.deepEqual(
      host.calls.filter((c) => c.command === 'conntrack' && c.args[0] !== '-L').map((c) => c.args.join(' ')),
      [
        '-D -p udp --orig-dst 10.96.0.53',
        '-D -p udp --orig-port-dst 30053',
        '-D -f ipv6 -p udp --orig-dst fd00:96::53',
        '-D -f ipv6 -p udp --orig-port-dst 30053',
      ],
    );
  });

  it('cleanup removes both families\u2019 rules, and skips ip6tables when it is not installed', async () => {
    const host = fakeHost();
    const options = planOptions({ nodeIPs: ['192.168.0.10', 'fd00:192::10'], userspacePortals: 'on' });
    const { dual } = start(deps(host.exec, { options }));
    await dual.sync(proxyState([dualWeb]), CHANGE);
    await userspaceMode.cleanup(deps(host.exec));
    for (const fake of [host.v4, host.v6]) {
      assert.deepEqual(fake.chains('nat'), ['INPUT', 'OUTPUT', 'POSTROUTING', 'PREROUTING']);
      assert.deepEqual(fake.chains('filter'), ['FORWARD', 'INPUT', 'OUTPUT']);
    }
    await userspaceMode.cleanup(deps(fakeHost({ ip6tables: false }).exec));
  });
});

describe('userspace checkHost per family', () => {
  it('fails IPv6 only when --userspace-portals on cannot have ip6tables', async () => {
    const none = fakeHost({ ip6tables: false }).exec;
    const family = (ipFamily: IPFamily, userspacePortals: 'on' | 'auto' | 'off') =>
      deps(none, { options: planOptions({ ipFamily, userspacePortals }) });
    await assert.rejects(userspaceMode.checkHost(family('IPv6', 'on')), {
      code: 'KPROXY_IPTABLES_UNAVAILABLE',
      message:
        /^The userspace mode needs ip6tables-nft-restore for IPv6 portal rules \(--userspace-portals on\): /,
    });
    await userspaceMode.checkHost(family('IPv6', 'auto'));
    await userspaceMode.checkHost(family('IPv6', 'off'));
    await userspaceMode.checkHost(family('IPv4', 'on'));
    await userspaceMode.checkHost({ ...family('IPv6', 'on'), exec: fakeHost().exec });
  });

  it('declares both families', () => {
    assert.deepEqual(userspaceMode.ipFamilies, ['IPv4', 'IPv6']);
  });
});

describe('relay metrics shared by both families', () => {
  it('keeps a dual-stack service port\u2019s series until neither family relays it', async () => {
    const metrics = new ProxyMetrics({ mode: 'userspace' });
    const v4 = heldRelayMetrics(metrics.relay);
    const v6 = heldRelayMetrics(metrics.relay);
    const key = 'default/web:http/TCP';
    v4.servicePort(key).connectionOpened();
    v6.servicePort(key).connectionOpened();
    const exported = async (): Promise<boolean> =>
      (await metrics.metricsText()).includes(`kproxy_userspace_connections_total{service_port="${key}"} 2`);
    assert.ok(await exported());
    v6.forget(key);
    v6.forget(key);
    assert.ok(await exported(), 'the IPv4 Proxier still relays it');
    v4.forget(key);
    assert.ok(!(await exported()));
  });
});

describe('userspace trace, IPv6 (kproxy trace --to [addr]:port)', () => {
  const state = proxyState([
    dualWeb,
    servicePort({
      serviceName: 'shop',
      type: 'NodePort',
      nodePort: 30080,
      clusterIPs: ['10.96.0.20', 'fd00:96::20'],
      ipFamilies: ['IPv4', 'IPv6'],
      endpoints: ['10.1.0.4:80', '[fd00:1::4]:80', '[fd00:1::5]:80'],
    }),
    servicePort({ serviceName: 'empty6', clusterIPs: ['fd00:96::99'], ipFamilies: ['IPv6'], endpoints: [] }),
  ]);
  const options = planOptions({
    nodeIPs: ['192.168.0.10', 'fd00:192::10'],
    proxyPortRange: { from: 40000, to: 40010 },
  });
  const rows: {
    name: string;
    source: string;
    destination: string;
    port: number;
    verdict: string;
    backends: string[];
  }[] = [
    {
      name: 'pod to IPv6 cluster IP',
      source: 'fd00:1::9',
      destination: 'fd00:96::10',
      port: 80,
      verdict: 'DNAT',
      backends: ['[fd00:1::1]:8080'],
    },
    {
      name: 'host to IPv6 cluster IP',
      source: 'fd00:192::10',
      destination: 'fd00:96::20',
      port: 80,
      verdict: 'DNAT',
      backends: ['[fd00:1::4]:80', '[fd00:1::5]:80'],
    },
    {
      name: 'pod to the node port on the node\u2019s IPv6 address',
      source: 'fd00:1::9',
      destination: 'fd00:192::10',
      port: 30080,
      verdict: 'DNAT',
      backends: ['[fd00:1::4]:80', '[fd00:1::5]:80'],
    },
    {
      name: 'IPv6 service without endpoints',
      source: 'fd00:1::9',
      destination: 'fd00:96::99',
      port: 80,
      verdict: 'REJECT',
      backends: [],
    },
    {
      name: 'an IPv6 address no portal has',
      source: 'fd00:1::9',
      destination: 'fd00:96::77',
      port: 80,
      verdict: 'NONE',
      backends: [],
    },
    {
      name: 'the IPv4 VIP of the dual-stack service',
      source: '10.1.0.9',
      destination: '10.96.0.10',
      port: 80,
      verdict: 'DNAT',
      backends: ['127.0.0.1:1'],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const result = traceFamily(userspaceMode, state, options, {
        source: row.source,
        destination: row.destination,
        port: row.port,
        protocol: 'TCP',
      });
      assert.equal(result.verdict, row.verdict, result.path.join('\n'));
      assert.deepEqual(
        result.backends.map((b) => b.address),
        row.backends,
      );
    });
  }

  it('walks the ip6tables chains and names the rule it matched', () => {
    const result = traceFamily(userspaceMode, state, options, {
      source: 'fd00:1::9',
      destination: 'fd00:96::10',
      port: 80,
      protocol: 'TCP',
    });
    assert.ok(
      result.path.some((p) =>
        /^KUBE-PORTALS-CONTAINER: .* -d fd00:96::10\/128 -j REDIRECT --to-ports 4000\d$/.test(p),
      ),
      result.path.join('\n'),
    );
  });
});
