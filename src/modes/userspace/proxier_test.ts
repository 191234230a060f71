import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { type Exec, type ExecResult, KernelError } from '../../kernel/exec.ts';
import { FakeIptables, type IptablesTool } from '../../kernel/testing/iptables_fake.ts';
import { createLogger } from '../../log.ts';
import { ProxyMetrics } from '../../metrics/proxy_metrics.ts';
import type { ServicePortState, StateChange } from '../../model/types.ts';
import { FakeClock } from '../../runner/clock.ts';
import type { ProxierDeps } from '../mode.ts';
import { staleUdpConntrack, type UdpConntrackDeletion } from './conntrack.ts';
import { userspaceMode } from './index.ts';
import { planUserspace } from './plan.ts';
import { createUserspaceProxier, type UserspaceProxier } from './proxier.ts';
import { udpDnsPort as dns, planOptions, proxyState, servicePort } from './testing/fixtures.ts';
import { readAll, refusingPort, tcpServer } from './testing/loopback.ts';

// VIPs in 127.0.0.0/8 (direct listen, no root needed): 127.0.10.0/24; backends on 127.0.0.1.
const servers: Server[] = [];
const proxiers: UserspaceProxier[] = [];
after(async () => {
  for (const p of proxiers) await p.stop();
  for (const s of servers) s.close();
});

const CHANGE: StateChange = {
  changed: new Set(),
  removed: new Set(),
  firstSeen: new Map(),
  serviceEvents: 0,
  endpointEvents: 0,
};

/** A banner backend on 127.0.0.1: writes its name, then echoes. */
async function backend(name: string): Promise<string> {
  const { server, port } = await tcpServer((socket) => {
    socket.on('error', () => {});
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  servers.push(server);
  return `127.0.0.1:${port}`;
}

async function bannerAt(host: string, port: number): Promise<string> {
  const { connect } = await import('node:net');
  const socket = connect({ host, port, allowHalfOpen: true });
  await once(socket, 'connect');
  socket.end();
  return (await readAll(socket)).trim();
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ format: 'json', level: 'info', destination: stream }), lines };
}

function deps(exec: Exec = fakeExec().exec, overrides: Partial<ProxierDeps> = {}): ProxierDeps {
  return { options: planOptions(), exec, logger: capture().logger, iptablesBackend: 'auto', ...overrides };
}

/** `iptables-nft-save` → 'save'; the legacy tools are not installed on the fake host. */
const NFT_TOOL = /^iptables-nft(?:-(save|restore))?$/;

/**
 * A fake host that records every call: the iptables-nft tools answer from the strict fake (so `auto`
 * detects nft, as on a host with only that backend), the legacy ones fail to start, conntrack succeeds.
 */
function fakeExec(): {
  exec: Exec;
  iptables: FakeIptables;
  calls: { command: string; args: readonly string[]; input: string }[];
} {
  const calls: { command: string; args: readonly string[]; input: string }[] = [];
  const iptables = new FakeIptables('nft');
  const exec: Exec = async (command, args, options) => {
    const input = options?.input ?? '';
    calls.push({ command, args, input });
    const nft = NFT_TOOL.exec(command);
    if (nft !== null) return iptables.answer((nft[1] ?? 'iptables') as IptablesTool, args, input);
    if (command.startsWith('iptables')) throw new KernelError(command, -1, `spawn ${command} ENOENT`);
    return { code: 0, stdout: '', stderr: '' } satisfies ExecResult;
  };
  return { exec, iptables, calls };
}

/** The jumps to the mode's chains in a built-in chain of the fake. */
function jumpsIn(iptables: FakeIptables, table: 'nat' | 'filter', chain: string): string[] {
  return (iptables.chain(table, chain) ?? []).filter((rule) => / -j KUBE-(PORTALS|NODEPORT)-/.test(rule));
}

function direct(d: ProxierDeps = deps()): UserspaceProxier {
  const p = createUserspaceProxier(d, { portals: 'off', localAddresses: () => [] });
  proxiers.push(p);
  return p;
}

describe('UserspaceProxier (direct listen)', () => {
  it('serves a local VIP with exact round-robin over its endpoints', async () => {
    const eps = [await backend('a'), await backend('b'), await backend('c')];
    const proxier = direct();
    await proxier.sync(
      proxyState([servicePort({ clusterIPs: ['127.0.10.1'], port: 18080, endpoints: eps })]),
      CHANGE,
    );
    const names: string[] = [];
    for (let i = 0; i < 6; i++) names.push(await bannerAt('127.0.10.1', 18080));
    assert.deepEqual(names, ['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('serves a new service on the next sync and closes a removed one', async () => {
    const ep = await backend('x');
    const proxier = direct();
    const one = servicePort({ serviceName: 'one', clusterIPs: ['127.0.10.2'], port: 18081, endpoints: [ep] });
    const two = servicePort({ serviceName: 'two', clusterIPs: ['127.0.10.3'], port: 18081, endpoints: [ep] });
    await proxier.sync(proxyState([one]), CHANGE);
    const report = await proxier.sync(proxyState([one, two], 2), { ...CHANGE, changed: new Set([two.key]) });
    assert.equal(report.servicePortsWritten, 1);
    assert.equal(await bannerAt('127.0.10.3', 18081), 'x');
    await proxier.sync(proxyState([two], 3), CHANGE);
    await assert.rejects(dial18081('127.0.10.2'), { code: 'ECONNREFUSED' });
    assert.equal(await bannerAt('127.0.10.3', 18081), 'x');
  });

  it('gives a removed endpoint no new connection while its open stream goes on', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const proxier = direct();
    const sp = (eps: string[]): ServicePortState =>
      servicePort({ clusterIPs: ['127.0.10.4'], port: 18082, endpoints: eps });
    await proxier.sync(proxyState([sp([a, b])]), CHANGE);
    const { connect } = await import('node:net');
    const stream = connect({ host: '127.0.10.4', port: 18082, allowHalfOpen: true });
    const [banner] = (await once(stream, 'data')) as [Buffer];
    assert.equal(banner.toString(), 'a\n');
    await proxier.sync(proxyState([sp([b])], 2), CHANGE);
    for (let i = 0; i < 3; i++) assert.equal(await bannerAt('127.0.10.4', 18082), 'b');
    stream.write('still flowing');
    const [echo] = (await once(stream, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'still flowing');
    stream.end();
    await once(stream, 'close');
  });

  it('relays on libuv handles by default and on net.Socket when the plan options say net', async () => {
    const ep = await backend('e');
    const byDefault = capture();
    const fast = direct(deps(fakeExec().exec, { logger: byDefault.logger }));
    assert.equal(fast.stats().relayEngine, 'handles');
    assert.ok(byDefault.lines.some((l) => l.includes('TCP relay engine: handles')));
    const net = capture();
    const slow = direct(
      deps(fakeExec().exec, {
        logger: net.logger,
        options: planOptions({ userspaceRelayEngine: 'net' }),
      }),
    );
    assert.equal(slow.stats().relayEngine, 'net');
    assert.ok(net.lines.some((l) => l.includes('TCP relay engine: net')));
    await fast.sync(
      proxyState([servicePort({ clusterIPs: ['127.0.10.9'], port: 18086, endpoints: [ep] })]),
      CHANGE,
    );
    await slow.sync(
      proxyState([servicePort({ clusterIPs: ['127.0.10.10'], port: 18086, endpoints: [ep] })]),
      CHANGE,
    );
    assert.equal(await bannerAt('127.0.10.9', 18086), 'e');
    assert.equal(await bannerAt('127.0.10.10', 18086), 'e');
  });

  it('reports a VIP that is not local once, serves nothing for it, and does not crash', async () => {
    const { logger, lines } = capture();
    const proxier = direct(deps(fakeExec().exec, { logger }));
    const state = proxyState([servicePort({ clusterIPs: ['10.96.0.10'], endpoints: ['127.0.0.1:1'] })]);
    await proxier.sync(state, CHANGE);
    await proxier.sync(state, CHANGE);
    const warnings = lines.filter((l) => l.includes('not reachable in this setup'));
    assert.equal(warnings.length, 1);
    assert.deepEqual(proxier.stats().listeners, []);
  });

  it('logs a listener that cannot open and keeps serving the others', async () => {
    const ep = await backend('ok');
    const { logger, lines } = capture();
    const proxier = direct(deps(fakeExec().exec, { logger }));
    const good = servicePort({
      serviceName: 'good',
      clusterIPs: ['127.0.10.5'],
      port: 18083,
      endpoints: [ep],
    });
    const clash = servicePort({
      serviceName: 'clash',
      clusterIPs: ['127.0.10.5'],
      port: 18083,
      endpoints: [ep],
    });
    await proxier.sync(proxyState([clash, good]), CHANGE);
    assert.equal(await bannerAt('127.0.10.5', 18083), 'ok');
    assert.equal(lines.filter((l) => l.includes('EADDRINUSE')).length, 1);
  });

  it('serves an IPv6 VIP on ::1 directly (the IPv6 Proxier)', async () => {
    const ep = await backend('six');
    const proxier = direct(deps(undefined, { options: planOptions({ ipFamily: 'IPv6' }) }));
    await proxier.sync(
      proxyState([servicePort({ clusterIPs: ['::1'], ipFamilies: ['IPv6'], port: 18084, endpoints: [ep] })]),
      CHANGE,
    );
    assert.equal(await bannerAt('::1', 18084), 'six');
  });
});

function dial18081(host: string): Promise<unknown> {
  return import('node:net').then(
    ({ connect }) =>
      new Promise((resolve, reject) => {
        const s = connect({ host, port: 18081 });
        s.once('connect', () => resolve(s.destroy()));
        s.once('error', reject);
      }),
  );
}

describe('UserspaceProxier (portal rules, fake iptables)', () => {
  it('binds proxy ports from the range and writes rules that point at them, jumps once', async () => {
    const fake = fakeExec();
    const options = planOptions({ proxyPortRange: { from: 39100, to: 39120 } });
    const proxier = createUserspaceProxier(deps(fake.exec, { options }), {
      portals: 'on',
      localAddresses: () => [],
    });
    proxiers.push(proxier);
    const state = proxyState([servicePort({ endpoints: ['127.0.0.1:1'] })]);
    const report = await proxier.sync(state, CHANGE);
    // auto: the backend the host has (the fake host has only nft); one restore per table.
    const restore = fake.calls.filter((c) => c.command === 'iptables-nft-restore');
    assert.deepEqual(
      restore.map((c) => [c.args, c.input.split('\n')[0]]),
      [
        [['-w', '5', '--noflush'], '*nat'],
        [['-w', '5', '--noflush'], '*filter'],
      ],
    );
    const [listener] = proxier.stats().listeners;
    assert.equal(listener?.id, 'proxy|default/web:http/TCP|internal');
    assert.equal(listener?.host, '0.0.0.0');
    // The lowest free port of the range (another process on this machine may hold 39100).
    assert.ok(listener.port >= 39100 && listener.port <= 39120, `port ${listener.port}`);
    assert.ok(restore[0]!.input.includes(`-d 10.96.0.10/32 -j REDIRECT --to-ports ${listener.port}\n`));
    assert.ok(restore[0]!.input.includes(`-j DNAT --to-destination 192.168.0.10:${listener.port}\n`));
    assert.equal(report.kind, 'full');
    assert.ok(report.restoreBytes > 0);
    const inserts = fake.calls.filter((c) => c.args.includes('-I') || c.args.includes('-A'));
    assert.equal(inserts.length, 6);
    assert.deepEqual(fake.iptables.chain('nat', 'KUBE-PORTALS-CONTAINER'), [
      `-m comment --comment default/web:http -p tcp -m tcp --dport 80 -d 10.96.0.10/32 -j REDIRECT --to-ports ${listener.port}`,
    ]);
    // Unchanged state: nothing rewritten, no jump re-inserted.
    const again = await proxier.sync(state, CHANGE);
    assert.equal(again.restoreBytes, 0);
    assert.equal(fake.calls.filter((c) => c.command === 'iptables-nft-restore').length, 2);
    // A full resync rewrites the chains and finds every jump in place.
    await proxier.sync(state, CHANGE, { full: true });
    assert.equal(fake.calls.filter((c) => c.command === 'iptables-nft-restore').length, 4);
    assert.equal(fake.calls.filter((c) => c.args.includes('-I') || c.args.includes('-A')).length, 6);
    assert.equal(jumpsIn(fake.iptables, 'nat', 'PREROUTING').length, 2);
    assert.equal(jumpsIn(fake.iptables, 'nat', 'OUTPUT').length, 2);
    assert.equal(jumpsIn(fake.iptables, 'filter', 'INPUT').length, 2);
    // The guard comes first in INPUT, before the node ports' ACCEPT.
    assert.match(fake.iptables.chain('filter', 'INPUT')![0]!, /-j KUBE-PORTALS-GUARD$/);
  });

  it('gives a listener that cannot bind no rule, and never points a rule at a closed port', async () => {
    const fake = fakeExec();
    const options = planOptions({ proxyPortRange: { from: 39191, to: 39191 } });
    const proxier = createUserspaceProxier(deps(fake.exec, { options }), {
      portals: 'on',
      localAddresses: () => [],
    });
    proxiers.push(proxier);
    const one = servicePort({ serviceName: 'one', clusterIPs: ['10.96.0.11'], endpoints: ['127.0.0.1:1'] });
    const two = servicePort({ serviceName: 'two', clusterIPs: ['10.96.0.12'], endpoints: ['127.0.0.1:1'] });
    await proxier.sync(proxyState([one, two]), CHANGE);
    // One port in the range: the first listener (in key order) has it, the second none.
    const rules = fake.iptables.chain('nat', 'KUBE-PORTALS-CONTAINER') ?? [];
    assert.equal(rules.length, 1);
    assert.match(rules[0]!, /-d 10\.96\.0\.11\/32 -j REDIRECT --to-ports 39191$/);
    const portals = (): (string | undefined)[] =>
      (fake.iptables.chain('nat', 'KUBE-PORTALS-CONTAINER') ?? []).map((r) => /-d (\S+)/.exec(r)?.[1]);
    // The first goes: its rule goes with it, and its port is free only once it has closed, after the
    // second tried to bind; the second gets the port, and its rule, at the sync after.
    await proxier.sync(proxyState([two], 2), CHANGE);
    assert.deepEqual(portals(), []);
    await proxier.sync(proxyState([two], 2), CHANGE);
    assert.deepEqual(portals(), ['10.96.0.12/32']);
  });

  it('cleanup removes the jumps and chains that a proxier installed, on the detected backend', async () => {
    const fake = fakeExec();
    const proxier = createUserspaceProxier(deps(fake.exec), { portals: 'on', localAddresses: () => [] });
    proxiers.push(proxier);
    await proxier.sync(proxyState([servicePort({ endpoints: ['127.0.0.1:1'] })]), CHANGE);
    assert.ok(fake.iptables.chains('nat').includes('KUBE-PORTALS-CONTAINER'));
    await userspaceMode.cleanup(deps(fake.exec));
    assert.deepEqual(fake.iptables.chains('nat'), ['INPUT', 'OUTPUT', 'POSTROUTING', 'PREROUTING']);
    assert.deepEqual(fake.iptables.chains('filter'), ['FORWARD', 'INPUT', 'OUTPUT']);
    assert.deepEqual(jumpsIn(fake.iptables, 'nat', 'PREROUTING'), []);
    // Once more: nothing there, still a success.
    await userspaceMode.cleanup(deps(fake.exec));
  });
});

/** The relay series of one service port in a scrape, by metric name without the `kproxy_userspace_` prefix. */
async function relaySeries(metrics: ProxyMetrics, key: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await metrics.metricsText()).split('\n')) {
    const m = /^kproxy_userspace_(\w+)\{service_port="([^"]*)"\} (\S+)$/.exec(line);
    if (m !== null && m[2] === key) out[m[1]!] = Number(m[3]);
  }
  return out;
}

/** Polls a condition that real sockets make true (bounded: fails the test after 2 s). */
async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 2000;
  while (!(await condition())) {
    assert.ok(performance.now() < deadline, `${what}: not within 2 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Sends `payload`, half-closes, and reads everything back (the banner backend's name, then the echo). */
async function exchange(host: string, port: number, payload: string): Promise<string> {
  const { connect } = await import('node:net');
  const socket = connect({ host, port, allowHalfOpen: true });
  await once(socket, 'connect');
  socket.end(payload);
  const text = await readAll(socket);
  socket.destroy();
  return text;
}

describe('UserspaceProxier relay metrics (direct listen, real connections)', () => {
  function metered(
    metrics: ProxyMetrics,
    options: Partial<Parameters<typeof createUserspaceProxier>[1]> = {},
  ): UserspaceProxier {
    const p = createUserspaceProxier(deps(fakeExec().exec, { metrics }), {
      portals: 'off',
      localAddresses: () => [],
      ...options,
    });
    proxiers.push(p);
    return p;
  }

  it('counts connections and bytes exactly, and the active gauge returns to 0', async () => {
    const metrics = new ProxyMetrics({ mode: 'userspace' });
    const proxier = metered(metrics);
    const sp = servicePort({ clusterIPs: ['127.0.10.6'], port: 18085, endpoints: [await backend('m')] });
    await proxier.sync(proxyState([sp]), CHANGE);
    assert.deepEqual(await relaySeries(metrics, sp.key), {
      active_connections: 0,
      connections_total: 0,
      received_bytes_total: 0,
      sent_bytes_total: 0,
      dial_retries_total: 0,
      dial_failures_total: 0,
    });
    const payloads = ['a', 'bb'.repeat(1000), 'ccc'.repeat(100_000)];
    for (const payload of payloads)
      assert.equal(await exchange('127.0.10.6', 18085, payload), `m\n${payload}`);
    const sent = payloads.reduce((n, p) => n + p.length, 0);
    await until('every connection closed', () => proxier.stats().tcp.active === 0);
    assert.deepEqual(await relaySeries(metrics, sp.key), {
      active_connections: 0,
      connections_total: 3,
      received_bytes_total: sent,
      sent_bytes_total: sent + 3 * 'm\n'.length,
      dial_retries_total: 0,
      dial_failures_total: 0,
    });
  });

  it('shows an open connection as active, and counts a refused first backend as one dial retry', async () => {
    const metrics = new ProxyMetrics({ mode: 'userspace' });
    const proxier = metered(metrics);
    const refused = `127.0.0.1:${await refusingPort()}`;
    const sp = servicePort({
      clusterIPs: ['127.0.10.7'],
      port: 18086,
      endpoints: [refused, await backend('ok')],
    });
    await proxier.sync(proxyState([sp]), CHANGE);
    const { connect } = await import('node:net');
    const open = connect({ host: '127.0.10.7', port: 18086 });
    const [banner] = (await once(open, 'data')) as [Buffer];
    assert.equal(banner.toString(), 'ok\n');
    const during = await relaySeries(metrics, sp.key);
    assert.equal(during.active_connections, 1);
    assert.equal(during.connections_total, 1);
    assert.equal(during.dial_retries_total, 1);
    assert.equal(during.dial_failures_total, 0);
    open.destroy();
    await until(
      'the connection closed',
      async () => (await relaySeries(metrics, sp.key)).active_connections === 0,
    );
  });

  it('counts one dial failure when every backend is dead (after a retry per further attempt)', async () => {
    const metrics = new ProxyMetrics({ mode: 'userspace' });
    const proxier = metered(metrics, { connectTimeoutsMs: [100, 100, 100] });
    const dead = [`127.0.0.1:${await refusingPort()}`, `127.0.0.1:${await refusingPort()}`];
    const sp = servicePort({ clusterIPs: ['127.0.10.8'], port: 18087, endpoints: dead });
    await proxier.sync(proxyState([sp]), CHANGE);
    // Nothing sent: a client with unread data would see the close as a reset.
    assert.equal(await exchange('127.0.10.8', 18087, ''), '');
    await until('the connection closed', () => proxier.stats().tcp.active === 0);
    const series = await relaySeries(metrics, sp.key);
    assert.equal(series.connections_total, 1);
    assert.equal(series.active_connections, 0);
    assert.equal(series.dial_retries_total, 2);
    assert.equal(series.dial_failures_total, 1);
  });

  it('counts a UDP client session as a connection with its bytes, until it idles out', async () => {
    const { createSocket } = await import('node:dgram');
    const echo = createSocket('udp4');
    echo.on('message', (msg, rinfo) => echo.send(Buffer.concat([msg, msg]), rinfo.port, rinfo.address));
    echo.bind(0, '127.0.0.1');
    await once(echo, 'listening');
    after(() => echo.close());
    const clock = new FakeClock(1_000_000);
    const metrics = new ProxyMetrics({ mode: 'userspace' });
    const proxier = metered(metrics, { clock });
    const sp = servicePort({
      serviceName: 'dns',
      protocol: 'UDP',
      clusterIPs: ['127.0.10.9'],
      port: 18088,
      endpoints: [`127.0.0.1:${echo.address().port}`],
    });
    await proxier.sync(proxyState([sp]), CHANGE);
    const client = createSocket('udp4');
    after(() => client.close());
    for (const text of ['one', 'three']) {
      const reply = once(client, 'message') as Promise<[Buffer]>;
      client.send(text, 18088, '127.0.10.9');
      assert.equal((await reply)[0].toString(), text + text);
    }
    const open = await relaySeries(metrics, sp.key);
    assert.equal(open.active_connections, 1);
    assert.equal(open.connections_total, 1);
    await clock.advance(1000);
    assert.deepEqual(await relaySeries(metrics, sp.key), {
      active_connections: 0,
      connections_total: 1,
      received_bytes_total: 8,
      sent_bytes_total: 16,
      dial_retries_total: 0,
      dial_failures_total: 0,
    });
  });

  it('stops exporting a removed service port once its last connection has ended', async () => {
    const metrics = new ProxyMetrics({ mode: 'userspace' });
    const proxier = metered(metrics);
    const ep = await backend('f');
    const gone = servicePort({
      serviceName: 'gone',
      clusterIPs: ['127.0.10.10'],
      port: 18089,
      endpoints: [ep],
    });
    const stays = servicePort({
      serviceName: 'stays',
      clusterIPs: ['127.0.10.11'],
      port: 18089,
      endpoints: [ep],
    });
    await proxier.sync(proxyState([gone, stays]), CHANGE);
    const { connect } = await import('node:net');
    const open = connect({ host: '127.0.10.10', port: 18089 });
    await once(open, 'data');
    await proxier.sync(proxyState([stays], 2), CHANGE);
    assert.equal(
      (await relaySeries(metrics, gone.key)).active_connections,
      1,
      'still relaying: still exported',
    );
    open.destroy();
    await until('the connection closed', () => proxier.stats().tcp.active === 0);
    await proxier.sync(proxyState([stays], 3), CHANGE);
    assert.deepEqual(await relaySeries(metrics, gone.key), {});
    assert.equal((await relaySeries(metrics, stays.key)).connections_total, 0);
  });
});

describe('UserspaceProxier.stop (graceful)', () => {
  it('stops accepting at once, lets an open connection finish, then resolves', async () => {
    const ep = await backend('g');
    const proxier = direct();
    await proxier.sync(
      proxyState([servicePort({ clusterIPs: ['127.0.10.12'], port: 18090, endpoints: [ep] })]),
      CHANGE,
    );
    const { connect } = await import('node:net');
    const open = connect({ host: '127.0.10.12', port: 18090, allowHalfOpen: true });
    await once(open, 'data');
    let stopped = false;
    const stopping = proxier.stop().then(() => {
      stopped = true;
    });
    await until('the listener closed', async () => {
      const refused = await new Promise<boolean>((resolve) => {
        const probe = connect({ host: '127.0.10.12', port: 18090 });
        probe.once('connect', () => resolve(probe.destroy() && false));
        probe.once('error', () => resolve(true));
      });
      return refused;
    });
    open.write('still relayed');
    const [echo] = (await once(open, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'still relayed');
    assert.equal(stopped, false, 'stop waits for the open connection');
    open.end();
    await readAll(open);
    await stopping;
    assert.equal(proxier.stats().tcp.active, 0);
  });

  it('waits for a sync in progress, so that no listener outlives it', async () => {
    const ep = await backend('s');
    const proxier = direct();
    const syncing = proxier.sync(
      proxyState([servicePort({ clusterIPs: ['127.0.10.15'], port: 18093, endpoints: [ep] })]),
      CHANGE,
    );
    await proxier.stop();
    await syncing;
    const { connect } = await import('node:net');
    const probe = connect({ host: '127.0.10.15', port: 18093 });
    const outcome = await new Promise<string>((resolve) => {
      probe.once('connect', () => resolve('connected to a listener left open'));
      probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
    });
    probe.destroy();
    assert.equal(outcome, 'ECONNREFUSED');
    await assert.rejects(proxier.sync(proxyState([]), CHANGE), /stopped/);
  });

  for (const [how, ms] of [
    ['the proxier option', 5000],
    ['--userspace-drain-timeout', 3000],
  ] as const) {
    it(`closes connections still open when the drain timeout passes (${how})`, async () => {
      const ep = await backend('h');
      const clock = new FakeClock(0);
      const { logger, lines } = capture();
      const fromFlag = how === '--userspace-drain-timeout';
      const proxier = createUserspaceProxier(
        deps(fakeExec().exec, {
          logger,
          options: planOptions(fromFlag ? { userspaceDrainTimeoutMs: ms } : {}),
        }),
        { portals: 'off', localAddresses: () => [], clock, ...(fromFlag ? {} : { drainTimeoutMs: ms }) },
      );
      proxiers.push(proxier);
      await proxier.sync(
        proxyState([servicePort({ clusterIPs: ['127.0.10.13'], port: 18091, endpoints: [ep] })]),
        CHANGE,
      );
      const { connect } = await import('node:net');
      const idle = connect({ host: '127.0.10.13', port: 18091 });
      idle.on('error', () => {});
      await once(idle, 'data');
      const idleClosed = once(idle, 'close');
      let stopped = false;
      const stopping = proxier.stop().then(() => {
        stopped = true;
      });
      await clock.advance(ms - 1);
      assert.equal(stopped, false);
      await clock.advance(1);
      await stopping;
      await idleClosed;
      assert.equal(proxier.stats().tcp.active, 0);
      assert.ok(lines.some((l) => l.includes(`Closing 1 relayed connection(s) still open after ${ms} ms`)));
    });
  }

  it('runs the UDP conntrack deletions staleUdpConntrack gives, each as its conntrack command, after the rules', async () => {
    // Which deletions a sync calls for (a removed UDP service's VIPs and node port, nothing for TCP) is the
    // pure function's, tested in conntrack_test.ts; the Proxier's part is to run the ones it is given.
    const options = planOptions({ proxyPortRange: { from: 39160, to: 39180 } });
    const fake = fakeExec();
    const proxier = createUserspaceProxier(deps(fake.exec, { options }), {
      portals: 'on',
      localAddresses: () => [],
    });
    proxiers.push(proxier);
    const plan = (ports: readonly ServicePortState[]) =>
      planUserspace(proxyState(ports), options, { portals: true, localAddresses: [], proxyPorts: 'runtime' });
    const command = (deletion: UdpConntrackDeletion): string => {
      switch (deletion.kind) {
        case 'serviceIP':
          return `-D -p udp --orig-dst ${deletion.ip}`;
        case 'nodePort':
          return `-D -p udp --orig-port-dst ${deletion.port}`;
        default: {
          const never: never = deletion;
          throw new TypeError(`Unknown conntrack deletion: ${JSON.stringify(never)}`);
        }
      }
    };
    const web = servicePort({ serviceName: 'web', clusterIPs: ['10.96.0.80'], endpoints: ['127.0.0.1:1'] });
    // The TCP service goes first, then the UDP one.
    const syncs = [[dns, web], [dns], []];
    const ranPerSync: number[] = [];
    let before = 0;
    let applied: readonly ServicePortState[] | undefined;
    for (const [i, ports] of syncs.entries()) {
      before = fake.calls.length;
      await proxier.sync(proxyState(ports, i + 1), CHANGE);
      const ran = fake.calls
        .slice(before)
        // The first sync's heal lists the table (heal_conntrack.ts): only deletions count here.
        .filter((c) => c.command === 'conntrack' && c.args[0] !== '-L')
        .map((c) => c.args.join(' '));
      assert.deepEqual(ran, staleUdpConntrack(applied && plan(applied), plan(ports)).map(command));
      ranPerSync.push(ran.length);
      applied = ports;
    }
    assert.deepEqual(ranPerSync, [0, 0, 3]);
    // Deleted only once the rules no longer send anything to the closed proxy port.
    const restore = fake.calls.findIndex((c, i) => i >= before && c.command.includes('restore'));
    const firstDelete = fake.calls.findIndex(
      (c, i) => i >= before && c.command === 'conntrack' && c.args[0] !== '-L',
    );
    assert.ok(restore !== -1 && restore < firstDelete, `restore at ${restore}, conntrack at ${firstDelete}`);
  });

  it('logs a failed conntrack deletion and goes on serving', async () => {
    const fake = fakeExec();
    const { logger, lines } = capture();
    const proxier = createUserspaceProxier(
      deps(fake.exec, { logger, options: planOptions({ proxyPortRange: { from: 39181, to: 39190 } }) }),
      {
        portals: 'on',
        localAddresses: () => [],
        conntrack: {
          deleteUdpToServiceIP: () => Promise.reject(new Error('conntrack: command not found')),
          deleteUdpToNodePort: () => Promise.resolve(),
          deleteUdpServiceNat: () => Promise.resolve(),
          deleteUdpNodePortNat: () => Promise.resolve(),
        },
      },
    );
    proxiers.push(proxier);
    const dns = servicePort({ serviceName: 'dns', protocol: 'UDP', clusterIPs: ['10.96.0.53'], port: 53 });
    await proxier.sync(proxyState([dns]), CHANGE);
    const report = await proxier.sync(proxyState([], 2), CHANGE);
    assert.equal(report.servicePortsWritten, 1);
    assert.ok(
      lines.some((l) => l.includes('Could not delete the UDP conntrack entries to 10.96.0.53')),
      lines.join(''),
    );
  });

  it('keeps the portal rules on stop (for the next kproxy), unless told to remove them', async () => {
    for (const keep of [true, false]) {
      const fake = fakeExec();
      const proxier = createUserspaceProxier(
        deps(fake.exec, { options: planOptions({ proxyPortRange: { from: 39130, to: 39150 } }) }),
        { portals: 'on', localAddresses: () => [], removeRulesOnStop: !keep },
      );
      await proxier.sync(proxyState([servicePort({ endpoints: ['127.0.0.1:1'] })]), CHANGE);
      const before = fake.calls.length;
      await proxier.stop();
      const removals = fake.calls.slice(before).filter((c) => c.args.includes('-D') || c.args.includes('-X'));
      if (keep) {
        assert.deepEqual(removals, []);
        assert.equal(jumpsIn(fake.iptables, 'nat', 'OUTPUT').length, 2);
      } else {
        assert.ok(removals.some((c) => c.args.join(' ') === '-w 5 -t nat -X KUBE-PORTALS-CONTAINER'));
        assert.ok(removals.some((c) => c.args.includes('-D') && c.args.includes('KUBE-PORTALS-HOST')));
        assert.deepEqual(jumpsIn(fake.iptables, 'nat', 'OUTPUT'), []);
        assert.equal(fake.iptables.chain('nat', 'KUBE-PORTALS-HOST'), undefined);
      }
    }
  });

  it('serves with the plan options\u2019 --userspace-portals when the proxier is not told otherwise', async () => {
    const fake = fakeExec();
    const ep = await backend('p');
    const proxier = createUserspaceProxier(
      deps(fake.exec, { options: planOptions({ userspacePortals: 'off' }) }),
      { localAddresses: () => [], isRoot: () => true },
    );
    proxiers.push(proxier);
    await proxier.sync(
      proxyState([servicePort({ clusterIPs: ['127.0.10.14'], port: 18092, endpoints: [ep] })]),
      CHANGE,
    );
    assert.equal(proxier.stats().portals, false);
    assert.deepEqual(fake.calls, [], 'no iptables command at all');
    assert.equal(await bannerAt('127.0.10.14', 18092), 'p');
  });
});
