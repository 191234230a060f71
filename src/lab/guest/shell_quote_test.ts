import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { shellQuote } from './shell_quote.ts';

describe('shellQuote', () => {
  it('passes every word to the program unchanged, whatever characters it holds', () => {
    const words = [
      'plain',
      "it's",
      'a b',
      '$(touch /nonexistent)',
      '`x`',
      '"q"',
      '\\',
      '',
      'new\nline',
      "''",
    ];
    const script = `printf '%s\\0' ${words.map(shellQuote).join(' ')}`;
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    assert.deepEqual(out.split('\0').slice(0, -1), words);
  });

  it('refuses a NUL byte, which no argument can carry', () => {
    assert.throws(() => shellQuote('a\0b'), TypeError);
  });
});
