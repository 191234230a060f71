import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { blackHole, dial, loopbackBackend, readAll, refusingPort, tcpServer } from './_loopback.ts';
import type { Backend } from './balancer.ts';
import { TcpRelay } from './tcp_relay.ts';

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

const closers: (() => unknown)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

function track(server: Server): Server {
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return server;
}

async function startRelay(
  backends: Backend[],
  timeouts?: number[],
): Promise<{ relay: TcpRelay; port: number }> {
  const relay = new TcpRelay(scripted(backends), { connectTimeoutsMs: timeouts });
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

describe('TcpRelay', () => {
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
    const { relay, port: relayPort } = await startRelay([loopbackBackend(port)]);
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
    const relay = new TcpRelay(picker);
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

  it('gives up on a backend that never answers after the attempt timeout, and tries the next', async () => {
    const hole = await blackHole();
    closers.push(() => hole.close());
    const good = await namedEcho('good');
    const { relay, port } = await startRelay([loopbackBackend(hole.port), loopbackBackend(good)], [150, 300]);
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
    const { relay, port } = await startRelay([loopbackBackend(hole.port)], [50, 100, 200]);
    const start = performance.now();
    const client = await dial(port);
    assert.equal(await readAll(client), '');
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 340 && elapsed < 2000, `took ${elapsed} ms`);
    assert.deepEqual(relay.counters, { accepted: 1, relayed: 0, failed: 1, failedAttempts: 3 });
  });

  it('closes the client at once when there is no backend', async () => {
    const { relay, port } = await startRelay([]);
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
    const { relay, port: relayPort } = await startRelay([loopbackBackend(port)]);
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
    const { relay, port: relayPort } = await startRelay([loopbackBackend(port)]);
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
    const { relay, port } = await startRelay([loopbackBackend(good)]);
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
});
