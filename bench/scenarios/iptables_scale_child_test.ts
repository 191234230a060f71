import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonLines } from './iptables_scale_child.ts';

describe('jsonLines', () => {
  it("keeps the script's JSON rows and skips its human table", () => {
    const stdout = [
      '{"services":1000,"fullSyncMs":120}',
      '{"services":5000,"fullSyncMs":700}',
      '┌─────────┬──────────┐',
      '│ (index) │ services │',
      '{not json',
      '[1,2]',
      '',
    ].join('\n');
    assert.deepEqual(jsonLines(stdout), [
      { services: 1000, fullSyncMs: 120 },
      { services: 5000, fullSyncMs: 700 },
    ]);
  });
});
