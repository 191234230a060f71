import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyRestore,
  type IptablesState,
  parseIptablesSave,
  RestoreError,
  renderSave,
} from './iptables_state.ts';

function restore(state: IptablesState, lines: string[], noflush = true): void {
  applyRestore(state, `${lines.join('\n')}\n`, { noflush });
}

describe('the strict iptables-restore model', () => {
  it('creates chains and rules, and keeps chains the input does not mention with --noflush', () => {
    const s: IptablesState = new Map();
    restore(s, ['*nat', ':KUBE-A - [0:0]', ':KUBE-B - [0:0]', '-A KUBE-A -j KUBE-B', 'COMMIT']);
    restore(s, ['*nat', ':KUBE-C - [0:0]', 'COMMIT']);
    assert.deepEqual(
      [...s.get('nat')!.keys()],
      ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING', 'KUBE-A', 'KUBE-B', 'KUBE-C'],
    );
    assert.deepEqual(s.get('nat')!.get('KUBE-A')!.rules, ['-j KUBE-B']);
  });

  it('flushes a declared chain', () => {
    const s: IptablesState = new Map();
    restore(s, ['*nat', ':KUBE-A - [0:0]', '-A KUBE-A -j RETURN', 'COMMIT']);
    restore(s, ['*nat', ':KUBE-A - [0:0]', 'COMMIT']);
    assert.deepEqual(s.get('nat')!.get('KUBE-A')!.rules, []);
  });

  const refusals: [string, string[]][] = [
    [
      'a jump to a chain that does not exist',
      ['*nat', ':KUBE-A - [0:0]', '-A KUBE-A -j KUBE-NOPE', 'COMMIT'],
    ],
    [
      'a jump to a chain declared later',
      ['*nat', ':KUBE-A - [0:0]', '-A KUBE-A -j KUBE-B', ':KUBE-B - [0:0]', 'COMMIT'],
    ],
    ['a rule in a chain that does not exist', ['*nat', '-A KUBE-NOPE -j RETURN', 'COMMIT']],
    ['a table without COMMIT', ['*nat', ':KUBE-A - [0:0]']],
    ['a second table before COMMIT', ['*nat', '*filter', 'COMMIT']],
    ['deleting a rule that is not there', ['*nat', ':KUBE-A - [0:0]', '-D KUBE-A -j RETURN', 'COMMIT']],
    [
      'deleting a referenced chain',
      ['*nat', ':KUBE-A - [0:0]', ':KUBE-B - [0:0]', '-A KUBE-A -j KUBE-B', '-X KUBE-B', 'COMMIT'],
    ],
    ['deleting a built-in chain', ['*nat', '-X PREROUTING', 'COMMIT']],
    ['an unknown match', ['*nat', ':KUBE-A - [0:0]', '-A KUBE-A -m nosuchmatch -j RETURN', 'COMMIT']],
    ['an unknown option', ['*nat', ':KUBE-A - [0:0]', '-A KUBE-A -p tcp --nosuch 1 -j RETURN', 'COMMIT']],
    ['a bad address', ['*nat', ':KUBE-A - [0:0]', '-A KUBE-A -d 10.0.0.300 -j RETURN', 'COMMIT']],
    [
      'DNAT in the filter table',
      ['*filter', ':KUBE-A - [0:0]', '-A KUBE-A -p tcp -j DNAT --to-destination 10.0.0.1:80', 'COMMIT'],
    ],
    ['REJECT in the nat table', ['*nat', ':KUBE-A - [0:0]', '-A KUBE-A -j REJECT', 'COMMIT']],
    [
      'DNAT to a port without a protocol',
      ['*nat', ':KUBE-A - [0:0]', '-A KUBE-A -j DNAT --to-destination 10.0.0.1:80', 'COMMIT'],
    ],
    ['an insert past the end', ['*nat', ':KUBE-A - [0:0]', '-I KUBE-A 2 -j RETURN', 'COMMIT']],
  ];
  for (const [what, lines] of refusals) {
    it(`refuses ${what}, leaving the table as it was`, () => {
      const s: IptablesState = new Map();
      restore(s, ['*nat', ':KUBE-KEEP - [0:0]', 'COMMIT']);
      const before = renderSave(s, 'nat');
      assert.throws(() => restore(s, lines), RestoreError);
      assert.equal(renderSave(s, 'nat'), before);
    });
  }

  it('checks set matches against the ipsets that exist, when told which do', () => {
    const s: IptablesState = new Map();
    const input = '*filter\n:KUBE-A - [0:0]\n-A KUBE-A -m set --match-set KUBE-X dst,dst -j ACCEPT\nCOMMIT\n';
    assert.throws(
      () => applyRestore(s, input, { noflush: true, setExists: (name) => name === 'KUBE-Y' }),
      /line 3: Set KUBE-X doesn't exist/,
    );
    assert.equal(s.get('filter'), undefined);
    applyRestore(s, input, { noflush: true, setExists: (name) => name === 'KUBE-X' });
    assert.deepEqual(s.get('filter')!.get('KUBE-A')!.rules, ['-m set --match-set KUBE-X dst,dst -j ACCEPT']);
  });

  it('takes the addresses of its family only: IPv4 for iptables, IPv6 for ip6tables', () => {
    const rule = (address: string) => `*nat\n:KUBE-A - [0:0]\n-A KUBE-A -s ${address} -j RETURN\nCOMMIT\n`;
    const v6: IptablesState = new Map();
    applyRestore(v6, rule('::1/128'), { noflush: true, family: 'IPv6' });
    assert.deepEqual(v6.get('nat')!.get('KUBE-A')!.rules, ['-s ::1/128 -j RETURN']);
    assert.throws(
      () => applyRestore(v6, rule('127.0.0.0/8'), { noflush: true, family: 'IPv6' }),
      RestoreError,
    );
    assert.throws(
      () => applyRestore(v6, rule('fd00::/129'), { noflush: true, family: 'IPv6' }),
      RestoreError,
    );
    assert.throws(() => applyRestore(new Map(), rule('::1/128'), { noflush: true }), /Bad address for -s/);
  });

  it("accepts the ipvs mode's physdev and ipvs matches", () => {
    const s: IptablesState = new Map();
    restore(s, [
      '*filter',
      ':KUBE-A - [0:0]',
      '-A KUBE-A -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT',
      '-A KUBE-A -s 198.18.0.200 -m ipvs --vaddr 198.18.0.200 --vproto tcp --vport 80 -j DROP',
      'COMMIT',
    ]);
    assert.equal(s.get('filter')!.get('KUBE-A')!.rules.length, 2);
  });

  it('deletes by rule text whatever its quoting, and inserts at a position', () => {
    const s: IptablesState = new Map();
    restore(s, [
      '*nat',
      ':KUBE-A - [0:0]',
      '-A KUBE-A -m comment --comment "x y" -j RETURN',
      '-A KUBE-A -j RETURN',
      'COMMIT',
    ]);
    restore(s, [
      '*nat',
      '-D KUBE-A -m comment --comment "x y" -j RETURN',
      '-I KUBE-A 2 -m comment --comment z -j RETURN',
      'COMMIT',
    ]);
    assert.deepEqual(s.get('nat')!.get('KUBE-A')!.rules, ['-j RETURN', '-m comment --comment z -j RETURN']);
  });

  it('reads iptables-save output, including rules it does not model', () => {
    const s = parseIptablesSave(
      [
        '# Generated by iptables-save v1.8.9',
        '*filter',
        ':INPUT DROP [10:600]',
        ':FORWARD ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ':DOCKER - [0:0]',
        '-A INPUT -m owner --uid-owner 0 -j ACCEPT',
        '-A FORWARD -o docker0 -j DOCKER',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.equal(s.get('filter')!.get('INPUT')!.policy, 'DROP');
    assert.deepEqual(s.get('filter')!.get('FORWARD')!.rules, ['-o docker0 -j DOCKER']);
  });
});
