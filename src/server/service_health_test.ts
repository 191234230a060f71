import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { BindAddressError, ListenError } from './http_listen.ts';
import { ServiceHealthServer, serviceHealthAnswer } from './service_health.ts';
import type { ServiceHealthTarget } from './service_health_targets.ts';

function target(name: string, localEndpoints: number, port = 0): ServiceHealthTarget {
  return { namespace: 'shop', name, port, localEndpoints };
}

async function probe(port: number): Promise<{ status: number; weight: string | null; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
  return {
    status: response.status,
    weight: response.headers.get('x-load-balancing-endpoint-weight'),
    body: await response.json(),
  };
}

/** Occupies a free loopback port, like another process holding a node port. */
async function occupyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { port: address.port, server };
}

function closeNet(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('serviceHealthAnswer', () => {
  it('is 200 only with local endpoints and a healthy proxy', () => {
    const svc = { namespace: 'shop', name: 'web', localEndpoints: 2 };
    assert.deepEqual(serviceHealthAnswer(svc, true), {
      status: 200,
      body: { service: { namespace: 'shop', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true },
    });
    assert.equal(serviceHealthAnswer(svc, false).status, 503);
    assert.equal(serviceHealthAnswer({ ...svc, localEndpoints: 0 }, true).status, 503);
  });
});

describe('ServiceHealthServer', () => {
  let proxyHealthy = true;
  const servers = new ServiceHealthServer({ bindAddresses: ['127.0.0.1'], proxyHealthy: () => proxyHealthy });
  after(() => servers.close());

  it('opens one listener per service and answers with its local endpoint count', async () => {
    const result = await servers.sync(
      new Map([
        ['shop/web', target('web', 2)],
        ['shop/api', target('api', 0)],
      ]),
    );
    assert.deepEqual(result, { opened: ['shop/api', 'shop/web'], closed: [], failed: [] });
    const web = await probe(servers.boundPort('shop/web')!);
    assert.deepEqual(web, {
      status: 200,
      weight: '2',
      body: { service: { namespace: 'shop', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true },
    });
    const api = await probe(servers.boundPort('shop/api')!);
    assert.equal(api.status, 503);
    assert.deepEqual(api.body, {
      service: { namespace: 'shop', name: 'api' },
      localEndpoints: 0,
      serviceProxyHealthy: true,
    });
  });

  it('follows local endpoint counts without reopening listeners', async () => {
    const webPort = servers.boundPort('shop/web')!;
    const pending = servers.sync(
      new Map([
        ['shop/web', target('web', 0)],
        ['shop/api', target('api', 3)],
      ]),
    );
    // Counts apply at once, before the sync's listener work.
    assert.equal((await probe(webPort)).status, 503);
    assert.deepEqual(await pending, { opened: [], closed: [], failed: [] });
    assert.equal(servers.boundPort('shop/web'), webPort);
    const api = await probe(servers.boundPort('shop/api')!);
    assert.equal(api.status, 200);
    assert.equal((api.body as { localEndpoints: number }).localEndpoints, 3);
  });

  it('answers 503 while the proxy itself is unhealthy, even with local endpoints', async () => {
    proxyHealthy = false;
    try {
      const api = await probe(servers.boundPort('shop/api')!);
      assert.equal(api.status, 503);
      assert.equal((api.body as { serviceProxyHealthy: boolean }).serviceProxyHealthy, false);
    } finally {
      proxyHealthy = true;
    }
  });

  it('closes the listener of a service that goes away', async () => {
    const webPort = servers.boundPort('shop/web')!;
    const result = await servers.sync(new Map([['shop/api', target('api', 3)]]));
    assert.deepEqual(result, { opened: [], closed: ['shop/web'], failed: [] });
    assert.equal(servers.boundPort('shop/web'), undefined);
    await assert.rejects(probe(webPort), 'nothing listens on the old port');
    assert.equal((await probe(servers.boundPort('shop/api')!)).status, 200);
  });

  it('moves a service to its new port when the port changes', async () => {
    const { port, server } = await occupyPort();
    await closeNet(server);
    const oldPort = servers.boundPort('shop/api')!;
    const result = await servers.sync(new Map([['shop/api', target('api', 1, port)]]));
    assert.deepEqual(result, { opened: ['shop/api'], closed: ['shop/api'], failed: [] });
    assert.equal(servers.boundPort('shop/api'), port);
    assert.equal((await probe(port)).status, 200);
    await assert.rejects(probe(oldPort));
  });

  it('reports a port it cannot bind instead of throwing, and retries on the next sync', async () => {
    const { port, server } = await occupyPort();
    const targets = new Map([
      ['shop/api', target('api', 1, servers.boundPort('shop/api')!)],
      ['shop/busy', target('busy', 1, port)],
    ]);
    const result = await servers.sync(targets);
    assert.deepEqual(result.opened, []);
    assert.equal(result.failed.length, 1);
    const [failure] = result.failed;
    assert.equal(failure?.key, 'shop/busy');
    assert.equal(failure?.port, port);
    assert.ok(failure?.error instanceof ListenError);
    assert.match(failure.error.message, /EADDRINUSE/);
    assert.equal(servers.boundPort('shop/busy'), undefined);

    await closeNet(server);
    const retried = await servers.sync(targets);
    assert.deepEqual(retried, { opened: ['shop/busy'], closed: [], failed: [] });
    assert.equal((await probe(port)).status, 200);
  });

  it('closes every listener on close() and ignores later syncs', async () => {
    const own = new ServiceHealthServer({ bindAddresses: ['127.0.0.1'], proxyHealthy: () => true });
    await own.sync(new Map([['shop/web', target('web', 1)]]));
    const port = own.boundPort('shop/web')!;
    assert.equal((await probe(port)).status, 200);
    await own.close();
    await assert.rejects(probe(port));
    assert.deepEqual(await own.sync(new Map([['shop/web', target('web', 1)]])), {
      opened: [],
      closed: [],
      failed: [],
    });
  });

  it('closes every listener when its signal aborts', async () => {
    const stop = new AbortController();
    const own = new ServiceHealthServer({
      bindAddresses: ['127.0.0.1'],
      proxyHealthy: () => true,
      signal: stop.signal,
    });
    await own.sync(new Map([['shop/web', target('web', 1)]]));
    const port = own.boundPort('shop/web')!;
    stop.abort();
    // No close() call: the abort alone must stop the listeners (within the current turn of the loop).
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(probe(port));
  });

  it('rejects a bind address that is not an IP', () => {
    assert.throws(
      () => new ServiceHealthServer({ bindAddresses: ['node1'], proxyHealthy: () => true }),
      BindAddressError,
    );
  });
});
