/**
 * The strict nft fake without root: the scripts of nft_steps.ts (whose outcomes nft_kernel_test.ts
 * checks against the real nft) give the same outcomes here, and the fake answers in nft's forms.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNftErrors } from '../nft.ts';
import { FakeNft } from './nft_fake.ts';
import { goldenSteps, PARTIAL_STEPS, REFUSED_STEPS } from './nft_steps.ts';

describe('FakeNft: the steps checked against the real nft', () => {
  it('accepts the golden scripts and partial updates, and refuses the rest at the line nft names', () => {
    const fake = new FakeNft();
    for (const step of [...goldenSteps(), ...PARTIAL_STEPS, ...REFUSED_STEPS]) {
      const before = fake.tables().map((t) => [t, fake.chains(...(t.split(' ') as ['ip', string]))]);
      const result = fake.answer(step.check === true ? ['-c', '-f', '-'] : ['-f', '-'], step.script);
      assert.equal(parseNftErrors(result.stderr)[0]?.line, step.refusedAt, `${step.name}: ${result.stderr}`);
      assert.equal(result.code, step.refusedAt === undefined ? 0 : 1, step.name);
      if (step.refusedAt !== undefined) {
        const after = fake.tables().map((t) => [t, fake.chains(...(t.split(' ') as ['ip', string]))]);
        assert.deepEqual(after, before, `${step.name} changed nothing`);
      }
    }
    assert.ok(goldenSteps().length > 0, 'the golden scripts of src/modes/nftables/testdata');
  });
});

describe('FakeNft: transactions', () => {
  it('applies all of a script or nothing, and records each', () => {
    const fake = new FakeNft();
    const good =
      'add table ip t\nadd chain ip t a\nadd set ip t s { type ipv4_addr ; }\nadd element ip t s { 10.0.0.1 }\n';
    assert.equal(fake.answer(['-f', '-'], good).code, 0);
    const bad =
      'add element ip t s { 10.0.0.2 }\nflush chain ip t a\ndelete chain ip t a\ndelete chain ip t a\n';
    assert.equal(fake.answer(['-f', '-'], bad).code, 1);
    assert.deepEqual(fake.elements('ip', 't', 's'), ['10.0.0.1']);
    assert.deepEqual(fake.chains('ip', 't'), ['a']);
    assert.deepEqual(
      fake.transactions.map((t) => [t.check, t.refused?.split('\n')[0]]),
      [
        [false, undefined],
        [false, '/dev/stdin:4:19-19: Error: Could not process rule: No such file or directory'],
      ],
    );
  });

  it('rolls back every kind of change of a refused transaction, and of a check', () => {
    const fake = new FakeNft();
    const golden = goldenSteps().find((s) => s.name.includes('session-affinity')) ?? goldenSteps()[0]!;
    assert.equal(fake.answer(['-f', '-'], golden.script).code, 0);
    const listing = () =>
      ['tables', 'table ip kube-proxy', 'chains'].map(
        (what) => fake.answer(['-j', 'list', ...what.split(' ')], '').stdout,
      );
    const before = listing();
    const changes = [
      'add table ip other',
      'add chain ip other c { type filter hook input priority 0 ; }',
      'add chain ip kube-proxy extra',
      'add rule ip kube-proxy extra jump mark-for-masquerade',
      'add rule ip kube-proxy services jump extra',
      'add set ip kube-proxy aff-new { type ipv4_addr ; flags timeout ; timeout 60s ; }',
      'add rule ip kube-proxy extra update @aff-new { ip saddr }',
      'add element ip kube-proxy cluster-ips { 172.30.9.9 }',
      'flush map ip kube-proxy service-ips',
      'flush chain ip kube-proxy masquerading',
      'delete element ip kube-proxy cluster-ips { 172.30.0.41 }',
      'flush chain ip kube-proxy firewall-check',
      'delete map ip kube-proxy firewall-ips',
      'add chain ip kube-proxy nat-output { type nat hook output priority -100 ; policy drop ; }',
      'delete table ip other',
    ];
    const checked = fake.answer(['-c', '-f', '-'], `${changes.join('\n')}\n`);
    assert.equal(checked.code, 0, checked.stderr);
    assert.deepEqual(listing(), before, 'a check');
    const refused = fake.answer(['-f', '-'], `${changes.join('\n')}\ndelete chain ip kube-proxy nope\n`);
    assert.match(refused.stderr, /^\/dev\/stdin:16:/);
    assert.deepEqual(listing(), before, 'a refused transaction');
  });

  it('reports like nft: place, reason, the line as written (tabs kept), carets under what it points at', () => {
    const fake = new FakeNft();
    fake.answer(
      ['-f', '-'],
      'add table ip t\nadd map ip t m { type inet_proto . inet_service : verdict ; }\n',
    );
    const result = fake.answer(['-f', '-'], 'add element ip t m {\n\ttcp . 80 : drop,\n\tudp : drop\n}\n');
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      '/dev/stdin:3:2-4: Error: datatype mismatch, expected concatenation of (inet_proto, inet_service), expression has 1 part\n\tudp : drop\n\t^^^\n',
    );
  });

  it('keeps rules as written, counts references, and marks a set the packet path updates dynamic', () => {
    const fake = new FakeNft();
    const script = [
      'add table ip t',
      'add set ip t aff { type ipv4_addr ; flags timeout ; timeout 3h ; }',
      'add chain ip t ep',
      'add rule ip t ep update @aff { ip saddr } comment "affinity"',
      '',
    ].join('\n');
    assert.equal(fake.answer(['-f', '-'], script).code, 0);
    assert.deepEqual(fake.rules('ip', 't', 'ep'), ['update @aff { ip saddr } comment "affinity"']);
    const again = 'add set ip t aff { type ipv4_addr ; flags timeout ; timeout 3h ; }\n';
    assert.match(fake.answer(['-f', '-'], again).stderr, /File exists/);
    assert.equal(fake.answer(['-f', '-'], again.replace('flags timeout', 'flags timeout,dynamic')).code, 0);
    assert.match(fake.answer(['-f', '-'], 'delete set ip t aff\n').stderr, /Device or resource busy/);
    assert.equal(fake.answer(['-f', '-'], 'flush chain ip t ep\ndelete set ip t aff\n').code, 0);
  });

  it('adds affinity entries as the packet path does, and lists them with their expiry', () => {
    const fake = new FakeNft();
    fake.answer(
      ['-f', '-'],
      'add table ip t\nadd set ip t aff { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }\n',
    );
    fake.addFromPacketPath('ip', 't', 'aff', ['10.0.0.1']);
    assert.throws(() => fake.addFromPacketPath('ip', 't', 'aff', ['fd00::1']), /refuses the element/);
    const listed = JSON.parse(fake.answer(['-j', 'list', 'set', 'ip', 't', 'aff'], '').stdout);
    assert.deepEqual(listed.nftables[1], {
      set: {
        family: 'ip',
        name: 'aff',
        table: 't',
        type: 'ipv4_addr',
        handle: 1,
        flags: ['timeout'],
        timeout: 10800,
        elem: [{ elem: { val: '10.0.0.1', expires: 10800 } }],
      },
    });
  });

  it('refuses what it does not model as unsupported, never silently', () => {
    const fake = new FakeNft();
    for (const script of [
      'insert rule ip t c accept',
      'add table inet t',
      'flush ruleset',
      'add table ip t\nadd chain ip t c\nadd rule ip t c tcp flags syn accept',
      'add table ip t\nadd chain ip t c\nadd rule ip t c reject with tcp reset',
      'add table ip t\nadd set ip t s { type ether_addr ; }',
      // nft 1.0.6 aborts on an assertion for a port after a map that brings its own.
      'add table ip t\nadd map ip t p { typeof numgen random mod 1 : ip daddr . tcp dport ; }\nadd chain ip t c\nadd rule ip t c meta l4proto tcp dnat ip to numgen random mod 2 map @p : 80',
    ]) {
      const result = fake.answer(['-f', '-'], `${script}\n`);
      assert.equal(result.code, 1, script);
      assert.match(result.stderr, /kproxy fake: unsupported|syntax error/, script);
    }
    assert.equal(fake.answer(['list', 'ruleset'], '').code, 2);
    assert.equal(fake.answer(['-j', 'list', 'ruleset'], '').code, 2);
  });
});

describe('FakeNft: command lines', () => {
  it('answers --version, listings, delete table, and no program but nft', async () => {
    const fake = new FakeNft();
    assert.equal(fake.answer(['--version'], '').stdout, 'nftables v1.0.6 (Lester Gooch #5)\n');
    assert.deepEqual(fake.answer(['delete', 'table', 'ip', 'nosuch'], ''), {
      code: 1,
      stdout: '',
      stderr:
        'Error: Could not process rule: No such file or directory\ndelete table ip nosuch\n                ^^^^^^\n',
    });
    assert.deepEqual(fake.answer(['-j', 'list', 'table', 'ip', 'nosuch'], ''), {
      code: 1,
      stdout: '',
      stderr: 'Error: No such file or directory\nlist table ip nosuch\n              ^^^^^^\n',
    });
    fake.answer(
      ['-f', '-'],
      'add table ip t\nadd chain ip t c { type filter hook input priority 0 ; policy drop ; }\n',
    );
    assert.deepEqual(JSON.parse(fake.answer(['-j', 'list', 'chains'], '').stdout).nftables.slice(1), [
      {
        chain: {
          family: 'ip',
          table: 't',
          name: 'c',
          handle: 1,
          type: 'filter',
          hook: 'input',
          prio: 0,
          policy: 'drop',
        },
      },
    ]);
    assert.equal(fake.answer(['delete', 'table', 'ip', 't'], '').code, 0);
    assert.deepEqual(fake.tables(), []);
    assert.equal((await fake.exec('iptables', ['-L'])).code, 127);
  });
});
