import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { Exec, ExecResult } from '../../kernel/exec.ts';
import { createLogger } from '../../log.ts';
import type { ServicePortState, StateChange } from '../../model/types.ts';
import type { ProxierDeps } from '../mode.ts';
import { planOptions, proxyState, servicePort } from './_fixtures.ts';
import { readAll, tcpServer } from './_loopback.ts';
import { userspaceMode } from './index.ts';
import { createUserspaceProxier, type UserspaceProxier } from './proxier.ts';

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

/** An exec that records calls; `-C` (check) answers "missing" once per rule, everything else succeeds. */
function fakeExec(): { exec: Exec; calls: { command: string; args: readonly string[]; input: string }[] } {
  const calls: { command: string; args: readonly string[]; input: string }[] = [];
  const present = new Set<string>();
  const exec: Exec = async (command, args, options) => {
    calls.push({ command, args, input: options?.input ?? '' });
    const rule = args.filter((a) => !['-C', '-I', '-A', '1'].includes(a)).join(' ');
    let result: ExecResult = { code: 0, stdout: '', stderr: '' };
    if (args.includes('-C'))
      result = present.has(rule) ? result : { code: 1, stdout: '', stderr: 'Bad rule' };
    if (args.includes('-I') || args.includes('-A')) present.add(rule);
    return result;
  };
  return { exec, calls };
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

  it('serves an IPv6 VIP on ::1 directly', async () => {
    const ep = await backend('six');
    const proxier = direct();
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
    const restore = fake.calls.filter((c) => c.command === 'iptables-restore');
    assert.equal(restore.length, 1);
    assert.deepEqual(restore[0]?.args, ['--noflush', '-w']);
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
    assert.equal(inserts.length, 5);
    // Unchanged state: nothing rewritten, no jump re-inserted.
    const again = await proxier.sync(state, CHANGE);
    assert.equal(again.restoreBytes, 0);
    assert.equal(fake.calls.filter((c) => c.command === 'iptables-restore').length, 1);
  });

  it('cleanup deletes jumps and chains, and succeeds when nothing is there', async () => {
    const calls: string[] = [];
    const exec: Exec = async (command, args) => {
      calls.push([command, ...args].join(' '));
      if (args.includes('-D'))
        return {
          code: 1,
          stdout: '',
          stderr: 'iptables: Bad rule (does a matching rule exist in that chain?).',
        };
      if (args.includes('-F') || args.includes('-X'))
        return { code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.' };
      return { code: 0, stdout: '', stderr: '' };
    };
    await userspaceMode.cleanup(deps(exec));
    assert.ok(calls.includes('iptables -w -t nat -X KUBE-PORTALS-CONTAINER'));
    assert.ok(calls.includes('iptables -w -t filter -X KUBE-NODEPORT-NON-LOCAL'));
  });

  it('cleanup fails loudly on a real iptables error', async () => {
    const exec: Exec = async (_command, args) =>
      args.includes('-D')
        ? { code: 4, stdout: '', stderr: 'iptables: Permission denied' }
        : { code: 0, stdout: '', stderr: '' };
    await assert.rejects(userspaceMode.cleanup(deps(exec)), { code: 'KPROXY_KERNEL' });
  });
});
