import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KPROXY_ARGV, kproxyArgv } from './kproxy_daemon.ts';

describe('kproxyArgv', () => {
  it('runs the sources by default', () => {
    assert.deepEqual(kproxyArgv(['run', '--manifests', '/tmp/m']), [
      ...KPROXY_ARGV,
      'run',
      '--conntrack-max-per-core=0',
      '--manifests',
      '/tmp/m',
    ]);
    assert.equal(KPROXY_ARGV[0], process.execPath);
    assert.match(KPROXY_ARGV.at(-1) ?? '', /src\/bin\.ts$/);
  });
  it('puts the command prefix first, and the extra environment before it', () => {
    assert.deepEqual(kproxyArgv(['cleanup'], { command: ['/usr/bin/node', '/x/bin.js'] }), [
      '/usr/bin/node',
      '/x/bin.js',
      'cleanup',
    ]);
    assert.deepEqual(kproxyArgv(['run'], { command: ['kproxy'], env: { PATH: '/wrap:/usr/bin', A: '1' } }), [
      'env',
      'PATH=/wrap:/usr/bin',
      'A=1',
      'kproxy',
      'run',
      '--conntrack-max-per-core=0',
    ]);
  });
  it("leaves the host-wide conntrack table alone in a lab's namespace unless told otherwise", () => {
    assert.deepEqual(kproxyArgv(['run', '--conntrack-max-per-core', '5'], { command: ['kproxy'] }), [
      'kproxy',
      'run',
      '--conntrack-max-per-core',
      '5',
    ]);
  });
});
