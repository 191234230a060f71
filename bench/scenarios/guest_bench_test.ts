import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseGuestOutput } from './guest_bench.ts';

describe('parseGuestOutput', () => {
  it('finds the result line among other output', () => {
    const results = { dataPath: [], scale: [], kernel: '6.1.0-56-amd64', cpus: 1, durationMs: 5 };
    const stdout = `something\nKPT-BENCH-RESULT ${JSON.stringify(results)}\nafter\n`;
    assert.deepEqual(parseGuestOutput(stdout), results);
  });
  it('says when there is none', () => {
    assert.equal(parseGuestOutput('guest crashed\n'), undefined);
  });
});
