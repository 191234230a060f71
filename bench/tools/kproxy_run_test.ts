import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kproxyArgv } from '../../src/lab/kproxy_daemon.ts';
import { kproxyMode, kproxyRunArgs } from './kproxy_run.ts';

describe('kproxyRunArgs', () => {
  it('runs kproxy on the manifests with JSON logs, quick reaction and no periodic resync', () => {
    const options = {
      command: ['/usr/bin/node', '/x/bin.js'],
      mode: 'iptables',
      manifests: '/tmp/m',
      nodeIp: '198.18.0.1',
      iptablesBackend: 'legacy',
    } as const;
    const argv = kproxyArgv(kproxyRunArgs(options), { command: options.command });
    assert.deepEqual(argv.slice(0, 2), ['/usr/bin/node', '/x/bin.js']);
    const flags = argv.slice(2).join(' ');
    assert.match(flags, /^run --proxy-mode iptables --manifests \/tmp\/m /);
    for (const expected of [
      '--node-ip 198.18.0.1',
      '--iptables-backend legacy',
      '--log-format json',
      '--iptables-min-sync-period 100ms',
      '--iptables-sync-period 1h',
      '--ipvs-sync-period 1h',
      '--metrics-bind-address 127.0.0.1:10249',
    ]) {
      assert.ok(flags.includes(expected), expected);
    }
  });
});

describe('kproxyMode', () => {
  it('passes a mode kproxy has, and names one it lacks', () => {
    assert.equal(kproxyMode('iptables'), 'iptables');
    assert.throws(() => kproxyMode('ebpf'), /kproxy has no --proxy-mode ebpf/);
  });
});
