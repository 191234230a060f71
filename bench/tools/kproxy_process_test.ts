import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kproxyRunArgv, parseProcStatus, parseSyncLine } from './kproxy_process.ts';

describe('parseSyncLine', () => {
  it("reads the daemon's sync report", () => {
    const line = JSON.stringify({
      level: 30,
      time: 1,
      component: 'kproxy',
      kind: 'partial',
      durationMs: 12,
      version: 3,
      servicePorts: 10000,
      changed: 1,
      written: 1,
      restoreLines: 40,
      msg: 'Synced proxy rules',
    });
    assert.deepEqual(parseSyncLine(line), {
      kind: 'partial',
      durationMs: 12,
      servicePorts: 10000,
      written: 1,
      restoreLines: 40,
    });
  });
  it('ignores other lines, and lines that only mention the message', () => {
    assert.equal(parseSyncLine('{"msg":"Starting kproxy"}'), undefined);
    assert.equal(parseSyncLine('{"msg":"Sync failed: will retry","err":"Synced proxy rules"}'), undefined);
    assert.equal(parseSyncLine('Synced proxy rules (not json)'), undefined);
  });
});

describe('parseProcStatus', () => {
  it('reads resident and peak resident memory', () => {
    const text = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n';
    assert.deepEqual(parseProcStatus(text), { rssKb: 102400, peakRssKb: 204800 });
  });
});

describe('kproxyRunArgv', () => {
  it('runs kproxy on the manifests with JSON logs, quick reaction and no periodic resync', () => {
    const argv = kproxyRunArgv({
      command: ['/usr/bin/node', '/x/bin.js'],
      mode: 'iptables',
      manifests: '/tmp/m',
      nodeIp: '198.18.0.1',
      iptablesBackend: 'legacy',
    });
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
