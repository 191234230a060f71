import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  commentMatch,
  isValidChainName,
  renderRestore,
  restoreToken,
  sanitizeComment,
  tokenizeRestoreLine,
} from './iptables_restore.ts';

describe('restore tokens', () => {
  it('leave plain arguments alone and quote the rest', () => {
    assert.equal(restoreToken('10.0.0.1/32'), '10.0.0.1/32');
    assert.equal(restoreToken('ns1/svc1:p80'), 'ns1/svc1:p80');
    assert.equal(restoreToken('a b'), '"a b"');
    assert.equal(restoreToken(''), '""');
  });

  it('round-trip through the tokenizer, whatever the value', () => {
    for (const value of ['a b', 'say "hi"', 'back\\slash', 'tab\tand #hash', '-j ACCEPT']) {
      assert.deepEqual(tokenizeRestoreLine(`-A X --comment ${restoreToken(value)} -j Y`), [
        '-A',
        'X',
        '--comment',
        value,
        '-j',
        'Y',
      ]);
    }
  });

  it('can never produce a second line', () => {
    assert.doesNotMatch(restoreToken('a\n-A INPUT -j DROP'), /\n/);
  });

  it('tokenize like iptables-restore: quotes group, backslash escapes inside quotes only', () => {
    assert.deepEqual(tokenizeRestoreLine('-m comment --comment "a \\"b\\" c"  -j  X'), [
      '-m',
      'comment',
      '--comment',
      'a "b" c',
      '-j',
      'X',
    ]);
    assert.deepEqual(tokenizeRestoreLine('a\\b'), ['a\\b']);
    assert.throws(() => tokenizeRestoreLine('--comment "open'), /Unterminated quote/);
  });
});

describe('comments', () => {
  it('are sanitized to printable ASCII without quotes or backslashes, at most 255 bytes', () => {
    assert.equal(sanitizeComment('ns/wé"b\\x\n'), 'ns/w??b?x?');
    assert.equal(sanitizeComment('x'.repeat(300)).length, 255);
    assert.equal(commentMatch('ns1/svc1:p80 cluster IP'), '-m comment --comment "ns1/svc1:p80 cluster IP"');
  });
});

describe('chain names', () => {
  it('are 1-28 safe characters', () => {
    assert.ok(isValidChainName('KUBE-SVC-XPGD46QRK7WJZT7O'));
    assert.ok(!isValidChainName('A'.repeat(29)));
    assert.ok(!isValidChainName('-X'));
    assert.ok(!isValidChainName('A B'));
  });
});

describe('renderRestore', () => {
  it('declares every user chain, then writes the rules, then COMMIT', () => {
    assert.equal(
      renderRestore([
        {
          table: 'nat',
          chains: [
            { name: 'KUBE-A', rules: ['-j KUBE-B'] },
            { name: 'KUBE-B', rules: [] },
          ],
        },
      ]),
      '*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\n-A KUBE-A -j KUBE-B\nCOMMIT\n',
    );
  });
});
