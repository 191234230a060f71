import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { RelayPortMetrics } from '../../metrics/relay_metrics.ts';
import type { Backend } from './balancer.ts';
import { autoTcpRelayEngine, resolveTcpRelayEngine, TcpRelay, type TcpRelayEngineName } from './tcp_relay.ts';
import { blackHole, dial, loopbackBackend, readAll, refusingPort, tcpServer } from './testing/loopback.ts';

/** A picker that hands out the given backends in order, recording every pick. */
function scripted(backends: Backend[]): {
  pick(ip: string, retry: boolean): Backend | undefined;
  picks: [string, boolean][];
} {
  let i = 0;
  const picks: [string, boolean][] = [];
  return {
    picks,
    pick(ip, retry) {
      picks.push([ip, retry]);
      return backends.length === 0 ? undefined : backends[i++ % backends.length];
    },
  };
}

/** Service port metrics that remember every call. */
function recordingMetrics(): RelayPortMetrics & {
  opened: number;
  closed: [number, number][];
  retries: number;
  failures: number;
} {
  return {
    opened: 0,
    closed: [],
    retries: 0,
    failures: 0,
    connectionOpened() {
      this.opened++;
    },
    connectionClosed(bytesIn, bytesOut) {
      this.closed.push([bytesIn, bytesOut]);
    },
    bytesTransferred() {},
    dialRetry() {
      this.retries++;
    },
    dialFailure() {
      this.failures++;
    },
  };
}

/** Whether ::1 can be bound here. */
const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});

/** Like tcpServer, on ::1. */
async function tcpServer6(handler: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, handler);
  server.listen(0, '::1');
  await once(server, 'listening');
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
}

const closers: (() => unknown)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

function track(server: Server): Server {
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return server;
}

async function startRelay(
  engine: TcpRelayEngineName,
  backends: Backend[],
  timeouts?: number[],
): Promise<{ relay: TcpRelay; port: number }> {
  const relay = new TcpRelay(scripted(backends), { connectTimeoutsMs: timeouts, engine });
  const port = await relay.listen('127.0.0.1', 0);
  closers.push(() => {
    relay.destroyConnections();
    return relay.close();
  });
  return { relay, port };
}

/** A backend that sends its name, then echoes, and ends when the client ends. */
async function namedEcho(name: string): Promise<number> {
  const { server, port } = await tcpServer((socket) => {
    socket.on('error', () => {});
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  track(server);
  return port;
}

describe('TcpRelay engines', () => {
  it('relays on libuv handles by default on this Node, and says why when it cannot', () => {
    assert.deepEqual(autoTcpRelayEngine(), { engine: 'handles' });
    assert.deepEqual(resolveTcpRelayEngine('auto'), { engine: 'handles' });
    assert.deepEqual(resolveTcpRelayEngine('net'), { engine: 'net' });
    assert.deepEqual(resolveTcpRelayEngine('handles'), { engine: 'handles' });
    assert.equal(new TcpRelay(scripted([])).engine, 'handles');
  });
});

for (const engine of ['handles', 'net'] as const) {
  describe(`TcpRelay (${engine} engine)`, () => {
    it('relays both ways and passes a half-close on while the other direction keeps flowing', async () => {
      const received: string[] = [];
      const { server, port } = await tcpServer((socket) => {
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => received.push(d));
        socket.on('end', () => {
          // The client has half-closed; the backend still talks, then closes its side.
          socket.write('late reply');
          socket.end();
        });
      });
      track(server);
      const { relay, port: relayPort } = await startRelay(engine, [loopbackBackend(port)]);
      const client = await dial(relayPort);
      client.end('request');
      assert.equal(await readAll(client), 'late reply');
      assert.deepEqual(received, ['request']);
      await once(client, 'close');
      assert.equal(relay.counters.relayed, 1);
    });

    it('tries the next backend when one refuses: the client sees no error', async () => {
      const good = await namedEcho('good');
      const picker = scripted([loopbackBackend(await refusingPort()), loopbackBackend(good)]);
      const relay = new TcpRelay(picker, { engine });
      const port = await relay.listen('127.0.0.1', 0);
      closers.push(() => relay.close());
      const client = await dial(port);
      client.end();
      assert.equal(await readAll(client), 'good\n');
      assert.deepEqual(picker.pick.length >= 0 && picker.picks, [
        ['127.0.0.1', false],
        ['127.0.0.1', true],
      ]);
      assert.equal(relay.counters.failedAttempts, 1);
    });

    it('passes a greeting of a backend that speaks first to a client that has sent nothing', async () => {
      // The backend's reads start with its connect: a refused attempt must not read, the second one must.
      const good = await namedEcho('hello');
      const { relay, port } = await startRelay(engine, [
        loopbackBackend(await refusingPort()),
        loopbackBackend(good),
      ]);
      const client = await dial(port);
      const [greeting] = (await once(client, 'data')) as [Buffer];
      assert.equal(greeting.toString(), 'hello\n');
      client.end('ping');
      assert.equal(await readAll(client), 'ping');
      assert.equal(relay.counters.failedAttempts, 1);
      assert.equal(relay.counters.relayed, 1);
    });

    it('tries the next backend when the connect fails at once (unreachable address)', async () => {
      const good = await namedEcho('good');
      // TCP to the limited broadcast address is refused by the local stack (ENETUNREACH): no packet leaves.
      const unreachable: Backend = { ip: '255.255.255.255', port: 80, address: '255.255.255.255:80' };
      const { relay, port } = await startRelay(engine, [unreachable, loopbackBackend(good)]);
      const client = await dial(port);
      client.end();
      assert.equal(await readAll(client), 'good\n');
      assert.deepEqual(relay.counters, { accepted: 1, relayed: 1, failed: 0, failedAttempts: 1 });
    });

    it('gives up on a backend that never answers after the attempt timeout, and tries the next', async () => {
      const hole = await blackHole();
      closers.push(() => hole.close());
      const good = await namedEcho('good');
      const { relay, port } = await startRelay(
        engine,
        [loopbackBackend(hole.port), loopbackBackend(good)],
        [150, 300],
      );
      const start = performance.now();
      const client = await dial(port);
      client.end();
      assert.equal(await readAll(client), 'good\n');
      const elapsed = performance.now() - start;
      assert.ok(elapsed >= 140 && elapsed < 1000, `took ${elapsed} ms`);
      assert.equal(relay.counters.failedAttempts, 1);
    });

    it('closes the client only when every attempt failed, after growing timeouts', async () => {
      const hole = await blackHole();
      closers.push(() => hole.close());
      const { relay, port } = await startRelay(engine, [loopbackBackend(hole.port)], [50, 100, 200]);
      const start = performance.now();
      const client = await dial(port);
      assert.equal(await readAll(client), '');
      const elapsed = performance.now() - start;
      assert.ok(elapsed >= 340 && elapsed < 2000, `took ${elapsed} ms`);
      assert.deepEqual(relay.counters, { accepted: 1, relayed: 0, failed: 1, failedAttempts: 3 });
    });

    it('closes the client at once when there is no backend', async () => {
      const { relay, port } = await startRelay(engine, []);
      const client = await dial(port);
      assert.equal(await readAll(client), '');
      assert.equal(relay.counters.failed, 1);
    });

    it('passes a reset on as a reset, and one broken connection leaves the others alone', async () => {
      const byFirstByte = new Map<string, Socket>();
      const { server, port } = await tcpServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', (d: Buffer) => byFirstByte.set(d.toString(), socket));
        socket.pipe(socket);
      });
      track(server);
      const { relay, port: relayPort } = await startRelay(engine, [loopbackBackend(port)]);
      const a = await dial(relayPort);
      const b = await dial(relayPort);
      a.on('error', () => {});
      a.write('x');
      b.write('y');
      await Promise.all([once(a, 'data'), once(b, 'data')]);
      byFirstByte.get('x')!.resetAndDestroy();
      const aClosed = new Promise((resolve) => a.once('close', resolve));
      const [error] = (await once(a, 'error')) as [NodeJS.ErrnoException];
      assert.equal(error.code, 'ECONNRESET');
      await aClosed;
      b.write('still here');
      const [echo] = (await once(b, 'data')) as [Buffer];
      assert.equal(echo.toString(), 'still here');
      b.end();
      await once(b, 'close');
      assert.equal(relay.activeConnections, 0);
    });

    it('keeps a slow reader from making it buffer without bound', async () => {
      const total = 32 * 1024 * 1024;
      let sent = 0;
      let stalled: () => void = () => {};
      const stall = new Promise<void>((resolve) => {
        stalled = resolve;
      });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const { server, port } = await tcpServer((socket) => {
        socket.on('error', () => {});
        const pump = (): void => {
          while (sent < total) {
            sent += chunk.length;
            if (!socket.write(chunk)) {
              // Stalled if the client does not read: no drain within 300 ms.
              const timer = setTimeout(stalled, 300);
              socket.once('drain', () => {
                clearTimeout(timer);
                pump();
              });
              return;
            }
          }
          socket.end();
        };
        pump();
      });
      track(server);
      const { relay, port: relayPort } = await startRelay(engine, [loopbackBackend(port)]);
      const client = await dial(relayPort);
      client.pause();
      await stall;
      assert.ok(sent < total / 2, `the backend could send ${sent} bytes to a client that reads nothing`);
      assert.ok(relay.bufferedBytes < 512 * 1024, `the relay buffers ${relay.bufferedBytes} bytes`);
      let received = 0;
      client.on('data', (d: Buffer) => {
        received += d.length;
      });
      client.resume();
      await once(client, 'end');
      assert.equal(received, total);
      client.end();
    });

    it('stops accepting on close while relayed connections go on', async () => {
      const good = await namedEcho('good');
      const { relay, port } = await startRelay(engine, [loopbackBackend(good)]);
      const client = await dial(port);
      const [banner] = (await once(client, 'data')) as [Buffer];
      assert.equal(banner.toString(), 'good\n');
      await relay.close();
      await assert.rejects(dial(port), { code: 'ECONNREFUSED' });
      client.write('after close');
      const [echo] = (await once(client, 'data')) as [Buffer];
      assert.equal(echo.toString(), 'after close');
      client.end();
      await once(client, 'close');
    });

    it('passes a FIN from the backend on while the client keeps sending', async () => {
      let heard = '';
      let heardAll: () => void = () => {};
      const backendDone = new Promise<void>((resolve) => {
        heardAll = resolve;
      });
      const { server, port } = await tcpServer((socket) => {
        socket.setEncoding('utf8');
        socket.end('bye\n'); // the backend is done talking at once, but still listens
        socket.on('data', (d: string) => {
          heard += d;
        });
        socket.on('end', heardAll);
      });
      track(server);
      const { relay, port: relayPort } = await startRelay(engine, [loopbackBackend(port)]);
      const client = await dial(relayPort);
      const closed = once(client, 'close');
      assert.equal(await readAll(client), 'bye\n');
      client.write('one ');
      client.end('two');
      await backendDone;
      assert.equal(heard, 'one two');
      await closed;
      await relay.drained();
      assert.equal(relay.activeConnections, 0);
    });

    it('relays 8 MB each way unchanged, with both directions busy at once', async () => {
      const { server, port } = await tcpServer((socket) => {
        socket.on('error', () => {});
        socket.pipe(socket);
      });
      track(server);
      const { relay, port: relayPort } = await startRelay(engine, [loopbackBackend(port)]);
      const payload = randomBytes(8 * 1024 * 1024);
      const client = await dial(relayPort);
      const chunks: Buffer[] = [];
      client.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = once(client, 'end');
      for (let at = 0; at < payload.length; at += 256 * 1024) {
        if (!client.write(payload.subarray(at, at + 256 * 1024))) await once(client, 'drain');
      }
      client.end();
      await ended;
      const echoed = Buffer.concat(chunks);
      assert.equal(echoed.length, payload.length);
      assert.ok(echoed.equals(payload), 'the echo differs from what was sent');
      await once(client, 'close');
      await relay.drained();
    });

    it('relays 200 concurrent connections, each to its end, and counts them all', async () => {
      const metrics = recordingMetrics();
      const { server, port } = await tcpServer((socket) => {
        socket.on('error', () => {});
        socket.pipe(socket);
      });
      track(server);
      const relay = new TcpRelay(scripted([loopbackBackend(port)]), { engine, metrics });
      const relayPort = await relay.listen('127.0.0.1', 0);
      closers.push(() => relay.close());
      const replies = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const client = await dial(relayPort);
          client.end(`hello ${i}`);
          return readAll(client);
        }),
      );
      assert.deepEqual(
        replies,
        Array.from({ length: 200 }, (_, i) => `hello ${i}`),
      );
      await relay.drained();
      assert.deepEqual(relay.counters, { accepted: 200, relayed: 200, failed: 0, failedAttempts: 0 });
      assert.equal(metrics.opened, 200);
      assert.equal(metrics.closed.length, 200);
      const bytesIn = metrics.closed.reduce((n, [i]) => n + i, 0);
      const bytesOut = metrics.closed.reduce((n, [, o]) => n + o, 0);
      const expected = Array.from({ length: 200 }, (_, i) => `hello ${i}`.length).reduce((a, b) => a + b, 0);
      assert.equal(bytesIn, expected);
      assert.equal(bytesOut, expected);
    });

    it('counts retries and failures in the service port metrics', async () => {
      const metrics = recordingMetrics();
      const relay = new TcpRelay(scripted([loopbackBackend(await refusingPort())]), {
        engine,
        metrics,
        connectTimeoutsMs: [200, 200],
      });
      const port = await relay.listen('127.0.0.1', 0);
      closers.push(() => relay.close());
      const client = await dial(port);
      assert.equal(await readAll(client), '');
      await relay.drained();
      assert.deepEqual(
        {
          opened: metrics.opened,
          closed: metrics.closed,
          retries: metrics.retries,
          failures: metrics.failures,
        },
        { opened: 1, closed: [[0, 0]], retries: 1, failures: 1 },
      );
    });

    it('ends open connections on destroyConnections, and drained() then resolves', async () => {
      const good = await namedEcho('good');
      const { relay, port } = await startRelay(engine, [loopbackBackend(good)]);
      const client = await dial(port);
      client.on('error', () => {});
      await once(client, 'data');
      assert.equal(relay.activeConnections, 1);
      const ended = once(client, 'end');
      relay.destroyConnections();
      await relay.drained();
      await ended; // the relay closed its side
      client.end();
      assert.equal(relay.activeConnections, 0);
    });

    it('reports a port in use as EADDRINUSE', async () => {
      const { relay, port } = await startRelay(engine, []);
      const second = new TcpRelay(scripted([]), { engine });
      await assert.rejects(second.listen('127.0.0.1', port), { code: 'EADDRINUSE' });
      await second.close();
      assert.equal(relay.activeConnections, 0);
    });

    it('listens and relays on IPv6 addresses', {
      skip: ipv6Loopback ? false : 'no IPv6 loopback here',
    }, async () => {
      const { server, port } = await tcpServer6((socket) => {
        socket.on('error', () => {});
        socket.end(`from ${socket.remoteAddress}\n`);
      });
      track(server);
      const picker = scripted([{ ip: '::1', port, address: `[::1]:${port}` }]);
      const relay = new TcpRelay(picker, { engine });
      const relayPort = await relay.listen('::1', 0);
      closers.push(() => relay.close());
      const client = connect({ host: '::1', port: relayPort, allowHalfOpen: true });
      await once(client, 'connect');
      client.end();
      assert.equal(await readAll(client), 'from ::1\n');
      assert.deepEqual(picker.picks, [['::1', false]]);
    });

    it('binds [::] IPv6-only: the IPv4 Proxier keeps 0.0.0.0 on the same port', {
      skip: ipv6Loopback ? false : 'no IPv6 loopback here',
    }, async () => {
      const v4 = new TcpRelay(scripted([]), { engine });
      closers.push(() => v4.close());
      const port = await v4.listen('0.0.0.0', 0);
      const v6 = new TcpRelay(scripted([]), { engine });
      closers.push(() => v6.close());
      assert.equal(await v6.listen('::', port), port);
    });
  });
}
