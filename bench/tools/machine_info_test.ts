import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { machineInfo, parseOsRelease } from './machine_info.ts';

describe('parseOsRelease', () => {
  it('reads a quoted or unquoted PRETTY_NAME', () => {
    assert.equal(
      parseOsRelease('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'),
      'Debian GNU/Linux 12 (bookworm)',
    );
    assert.equal(parseOsRelease('PRETTY_NAME=Alpine\n'), 'Alpine');
    assert.equal(parseOsRelease('NAME=x\n'), 'unknown');
  });
});

describe('machineInfo', () => {
  it('describes this machine: CPU, cores, kernel, node, and a version line (or "missing") per tool', async () => {
    const info = await machineInfo();
    assert.ok(info.cores >= 1);
    assert.equal(info.node, process.version);
    assert.match(info.kernel, /^\d+\.\d+/);
    assert.deepEqual(Object.keys(info.tools), [
      'haproxy',
      'iperf3',
      'iptables',
      'iptables-legacy',
      'nft',
      'qemu',
      'wrk',
    ]);
    for (const line of Object.values(info.tools)) assert.ok(line.length > 0);
  });
});
