import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { timeConnects } from './connect_timer.ts';

describe('timeConnects', () => {
  let server: Server;
  let port = 0;
  let accepted = 0;
  before(async () => {
    server = createServer((socket) => {
      accepted++;
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('times every counted connection, leaving the warm-up ones out', async () => {
    const result = await timeConnects('127.0.0.1', port, { count: 20, warmup: 5, timeoutMs: 2000 });
    assert.equal(result.samplesUs.length, 20);
    assert.equal(result.failures, 0);
    for (const us of result.samplesUs) assert.ok(us > 0 && us < 2_000_000, String(us));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(accepted, 25, 'the server saw every connection, warm-up included');
  });

  it('counts refused connections as failures with the first reason', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await timeConnects('127.0.0.1', deadPort, { count: 3, warmup: 1, timeoutMs: 2000 });
    assert.deepEqual(result.samplesUs, []);
    assert.equal(result.failures, 3);
    assert.match(result.firstFailure ?? '', /ECONNREFUSED/);
  });
});
