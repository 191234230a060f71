// The guest's result line: found among the guest's other output, absent when the guest printed none.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHAOS_RESULT_MARKER, parseGuestChaos } from './guest_chaos.ts';

describe('parseGuestChaos', () => {
  it('reads the runs from the marked line', () => {
    const out = `boot noise\n${CHAOS_RESULT_MARKER}[{"mode":"ipvs","fault":"kill9"}]\nmore\n`;
    assert.deepEqual(
      parseGuestChaos(out)?.map((r) => [r.mode, r.fault]),
      [['ipvs', 'kill9']],
    );
  });

  it('is undefined without a marked line', () => {
    assert.equal(parseGuestChaos('KPT-BENCH-RESULT {}\n'), undefined);
  });
});
