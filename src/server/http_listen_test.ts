import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { BindAddressError, formatBindAddress, listenHttp, parseBindAddress } from './http_listen.ts';

describe('parseBindAddress', () => {
  const valid: [string, { host: string | undefined; port: number }][] = [
    ['0.0.0.0:10256', { host: '0.0.0.0', port: 10256 }],
    ['127.0.0.1:10249', { host: '127.0.0.1', port: 10249 }],
    ['[::]:10256', { host: '::', port: 10256 }],
    ['[fd00::1]:0', { host: 'fd00::1', port: 0 }],
    [':10256', { host: undefined, port: 10256 }],
  ];
  for (const [input, expected] of valid) {
    it(`parses ${input}`, () => assert.deepEqual(parseBindAddress(input), expected));
  }

  const invalid: [string, RegExp][] = [
    ['10256', /expected HOST:PORT/],
    ['0.0.0.0', /expected HOST:PORT/],
    ['0.0.0.0:70000', /port 70000 is out of range/],
    ['localhost:80', /localhost is not an IPv4 address/],
    ['::1:80', /expected HOST:PORT/],
    ['[10.0.0.1]:80', /10\.0\.0\.1 is not an IPv6 address/],
    ['1.2.3.4:-1', /expected HOST:PORT/],
  ];
  for (const [input, message] of invalid) {
    it(`rejects ${input}`, () => {
      assert.throws(
        () => parseBindAddress(input),
        (error: unknown) =>
          error instanceof BindAddressError &&
          error.code === 'KPROXY_BIND_ADDRESS' &&
          message.test(error.message) &&
          error.message.startsWith('Invalid bind address'),
      );
    });
  }
});

describe('formatBindAddress', () => {
  it('brackets IPv6 and stars "every address"', () => {
    assert.equal(formatBindAddress({ host: '::1', port: 80 }), '[::1]:80');
    assert.equal(formatBindAddress({ host: '10.0.0.1', port: 80 }), '10.0.0.1:80');
    assert.equal(formatBindAddress({ host: undefined, port: 80 }), '*:80');
  });
});

describe('listenHttp', () => {
  it('reports the real port and closes idle keep-alive connections at once', async () => {
    const running = await listenHttp(
      createServer((_q, r) => r.end('x')),
      { host: '127.0.0.1', port: 0 },
    );
    assert.notEqual(running.address.port, 0);
    const response = await fetch(`http://127.0.0.1:${running.address.port}/`, {
      signal: AbortSignal.timeout(2_000),
    });
    assert.equal(await response.text(), 'x');
    const started = performance.now();
    await running.close();
    await running.close();
    assert.ok(performance.now() - started < 1_000, 'close did not wait for the keep-alive timeout');
  });

  it('refuses to start when its signal is already aborted', async () => {
    const server = createServer();
    await assert.rejects(listenHttp(server, { host: '127.0.0.1', port: 0 }, { signal: AbortSignal.abort() }));
    assert.equal(server.listening, false);
  });

  it('hands errors after listening to onError instead of crashing the process', async () => {
    const errors: Error[] = [];
    const server = createServer();
    const running = await listenHttp(
      server,
      { host: '127.0.0.1', port: 0 },
      { onError: (e) => errors.push(e) },
    );
    try {
      server.emit('error', new Error('accept EMFILE'));
      assert.deepEqual(
        errors.map((e) => e.message),
        ['accept EMFILE'],
      );
    } finally {
      await running.close();
    }
  });

  it('drops errors after listening when there is no onError', async () => {
    const server = createServer();
    const running = await listenHttp(server, { host: '127.0.0.1', port: 0 });
    try {
      assert.equal(server.emit('error', new Error('accept EMFILE')), true, 'a listener took the event');
    } finally {
      await running.close();
    }
  });
});
