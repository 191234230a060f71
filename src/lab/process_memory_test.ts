import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProcStatus, readProcessMemory } from './process_memory.ts';

describe('parseProcStatus', () => {
  it('reads resident and peak resident memory', () => {
    const text = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n';
    assert.deepEqual(parseProcStatus(text), { rssKb: 102400, peakRssKb: 204800 });
  });
});

describe('readProcessMemory', () => {
  it("reads this process's own figures", async () => {
    const memory = await readProcessMemory(process.pid);
    assert.ok(memory.rssKb > 0 && memory.peakRssKb >= memory.rssKb);
  });
});
