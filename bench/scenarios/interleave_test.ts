import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectsPerBatch, interleavedOrder, runInterleaved } from './interleave.ts';

describe('interleavedOrder', () => {
  it('alternates which leg goes first from round to round', () => {
    assert.deepEqual(interleavedOrder(3), ['direct', 'vip', 'vip', 'direct', 'direct', 'vip']);
  });

  it('gives each leg one batch per round, and nothing for no round', () => {
    const order = interleavedOrder(10);
    assert.equal(order.filter((l) => l === 'direct').length, 10);
    assert.equal(order.filter((l) => l === 'vip').length, 10);
    assert.deepEqual(interleavedOrder(0), []);
  });

  it('rejects a count of rounds that is not a whole number', () => {
    assert.throws(() => interleavedOrder(-1), /Invalid number of rounds: -1/);
    assert.throws(() => interleavedOrder(1.5), /Invalid number of rounds/);
  });
});

describe('connectsPerBatch', () => {
  it('splits the connects of a leg over its batches, rounding up, at least one', () => {
    assert.equal(connectsPerBatch(1000, 10), 100);
    assert.equal(connectsPerBatch(300, 8), 38);
    assert.equal(connectsPerBatch(5, 10), 1);
    assert.equal(connectsPerBatch(300, 0), 300);
  });
});

describe('runInterleaved', () => {
  it('runs the batches one at a time in the interleaved order and files each result under its leg', async () => {
    const ran: string[] = [];
    let running = 0;
    const results = await runInterleaved(2, async (leg, round) => {
      running++;
      assert.equal(running, 1, 'one batch at a time');
      await Promise.resolve();
      running--;
      ran.push(`${round}:${leg}`);
      return `${leg}${round}`;
    });
    assert.deepEqual(ran, ['0:direct', '0:vip', '1:vip', '1:direct']);
    assert.deepEqual(results, { direct: ['direct0', 'direct1'], vip: ['vip0', 'vip1'] });
  });
});
