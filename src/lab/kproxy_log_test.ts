import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSyncLine } from './kproxy_log.ts';

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
