import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runBatchLines } from './batch_input.ts';
import { FakeIpset } from './ipset_fake.ts';
import { FakeNetlink } from './ipvs_netlink_fake.ts';

describe('batch input (ipset restore, ip -batch)', () => {
  it('runs every non-blank line as words, and stops at the first failure with its line number', () => {
    const ran: string[][] = [];
    const run = (words: string[]) => {
      if (words[0] === 'bad') throw new Error('refused');
      ran.push(words);
    };
    const located = (error: unknown, line: number) => new Error(`line ${line}: ${(error as Error).message}`);
    assert.throws(() => runBatchLines('a  b\n\n  c\nbad\nnever\n', run, located), /^Error: line 4: refused$/);
    assert.deepEqual(ran, [['a', 'b'], ['c']]);
  });

  it('gives the fakes the line numbers their tools print', () => {
    const ipset = new FakeIpset();
    const restored = ipset.ipset(['restore'], 'create S hash:ip family inet\nadd S 198.18.0.1\nadd S nope\n');
    assert.equal(restored.code, 1);
    assert.match(restored.stderr, /Error in line 3: Syntax error: 'nope' is not a valid hash:ip inet entry/);
    const ip = new FakeNetlink().ip(['-batch', '-'], 'link show lo\n\nlink show kpt-nope\n');
    assert.equal(ip.code, 1);
    assert.match(ip.stderr, /Device "kpt-nope" does not exist\.\nCommand failed -:3/);
  });
});
