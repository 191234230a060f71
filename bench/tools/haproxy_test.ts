import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { haproxyHttpResponderConfig, haproxyTcpConfig } from './haproxy.ts';
import { listeningPorts } from './listening.ts';

describe('haproxyTcpConfig', () => {
  it('forwards each listener to its server in TCP mode with a single thread', () => {
    assert.equal(
      haproxyTcpConfig([
        {
          name: 'http',
          listen: { address: '198.18.0.1', port: 18080 },
          server: { address: '198.18.101.2', port: 8080 },
        },
      ]),
      [
        'global',
        '  nbthread 1',
        '  maxconn 5000',
        'defaults',
        '  timeout connect 5s',
        '  timeout client 60s',
        '  timeout server 60s',
        '  mode tcp',
        'frontend fe-http',
        '  bind 198.18.0.1:18080',
        '  default_backend be-http',
        'backend be-http',
        '  server s0 198.18.101.2:8080',
        '',
      ].join('\n'),
    );
  });

  it('refuses anything that could inject configuration', () => {
    const ok = {
      name: 'x',
      listen: { address: '198.18.0.1', port: 1 },
      server: { address: '198.18.0.2', port: 2 },
    };
    assert.throws(() => haproxyTcpConfig([{ ...ok, name: 'x\n  mode http' }]), /Bad HAProxy section name/);
    assert.throws(
      () => haproxyTcpConfig([{ ...ok, listen: { address: '1.2.3.4 ssl', port: 1 } }]),
      /Bad HAProxy address/,
    );
    assert.throws(
      () => haproxyTcpConfig([{ ...ok, server: { address: '1.2.3.4', port: 70000 } }]),
      /Bad HAProxy address/,
    );
  });
});

describe('haproxyHttpResponderConfig', () => {
  it('answers every request itself in HTTP mode', () => {
    const config = haproxyHttpResponderConfig(8080, 'pod0');
    assert.match(config, /^ {2}nbthread 1$/m);
    assert.match(config, /^ {2}mode http$/m);
    assert.match(config, /^ {2}bind 0\.0\.0\.0:8080$/m);
    assert.match(config, /^ {2}http-request return status 200 content-type text\/plain string pod0$/m);
  });
  it('refuses a body that is not a plain name', () => {
    assert.throws(() => haproxyHttpResponderConfig(8080, 'a b'), /Bad response body/);
  });
});

describe('listeningPorts', () => {
  it('reads the local ports of ss -Hltn, IPv4 and IPv6', () => {
    const text = [
      'LISTEN 0      4096         0.0.0.0:8080      0.0.0.0:*',
      'LISTEN 0      5        127.0.0.1:10256     0.0.0.0:*',
      'LISTEN 0      4096            [::]:5201         [::]:*',
      '',
    ].join('\n');
    assert.deepEqual(
      [...listeningPorts(text)].sort((a, b) => a - b),
      [5201, 8080, 10256],
    );
  });
});
