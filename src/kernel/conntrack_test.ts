import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createConntrack } from './conntrack.ts';
import type { Exec } from './exec.ts';

function recording(result: { code: number; stderr: string }): Exec & { calls: string[] } {
  const calls: string[] = [];
  const exec = (async (command: string, args: readonly string[]) => {
    calls.push([command, ...args].join(' '));
    return { code: result.code, stdout: '', stderr: result.stderr };
  }) as Exec & { calls: string[] };
  exec.calls = calls;
  return exec;
}

describe('createConntrack', () => {
  it('deletes UDP entries with the filters upstream uses', async () => {
    const exec = recording({ code: 0, stderr: '' });
    const ct = createConntrack(exec);
    await ct.deleteUdpToServiceIP('172.30.0.10');
    await ct.deleteUdpToNodePort(30053);
    await ct.deleteUdpServiceNat('172.30.0.10', '10.180.0.5');
    await ct.deleteUdpNodePortNat(30053, '10.180.0.5');
    assert.deepEqual(exec.calls, [
      'conntrack -D -p udp --orig-dst 172.30.0.10',
      'conntrack -D -p udp --orig-port-dst 30053',
      'conntrack -D -p udp --orig-dst 172.30.0.10 --dst-nat 10.180.0.5',
      'conntrack -D -p udp --orig-port-dst 30053 --dst-nat 10.180.0.5',
    ]);
  });

  it('names the family for IPv6 entries (a node port names no address)', async () => {
    const exec = recording({ code: 0, stderr: '' });
    const ct = createConntrack(exec, { family: 'IPv6' });
    await ct.deleteUdpToServiceIP('fd00:172:30::10');
    await ct.deleteUdpToNodePort(30053);
    await ct.deleteUdpServiceNat('fd00:172:30::10', 'fd00:10:180::5');
    await ct.deleteUdpNodePortNat(30053, 'fd00:10:180::5');
    assert.deepEqual(exec.calls, [
      'conntrack -D -f ipv6 -p udp --orig-dst fd00:172:30::10',
      'conntrack -D -f ipv6 -p udp --orig-port-dst 30053',
      'conntrack -D -f ipv6 -p udp --orig-dst fd00:172:30::10 --dst-nat fd00:10:180::5',
      'conntrack -D -f ipv6 -p udp --orig-port-dst 30053 --dst-nat fd00:10:180::5',
    ]);
  });

  it('takes "nothing deleted" as success and anything else as a failure', async () => {
    const none = recording({
      code: 1,
      stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n',
    });
    await createConntrack(none).deleteUdpToServiceIP('172.30.0.10');
    const broken = recording({ code: 1, stderr: 'conntrack v1.4.7: Operation failed: invalid parameters\n' });
    await assert.rejects(createConntrack(broken).deleteUdpToServiceIP('172.30.0.10'), /Operation failed/);
  });
});
