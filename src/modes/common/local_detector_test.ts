import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LocalDetector } from '../../contracts/plan_options.ts';
import { iptablesLocalMatch, isLocalPacket, localMatchFor } from './local_detector.ts';

const options = (localDetector: LocalDetector | undefined, clusterCIDRs: string[] = []) => ({
  clusterCIDRs,
  localDetector,
});

describe('localMatchFor', () => {
  it('defaults to the first --cluster-cidr of the family, canonical, and names the others', () => {
    const warnings: string[] = [];
    const o = options(undefined, ['10.0.0.1/8', '2001:2::/48', '10.1.0.0/16']);
    assert.deepEqual(localMatchFor(o, 4, warnings), { kind: 'cidr', cidr: '10.0.0.0/8' });
    assert.match(warnings[0] ?? '', /Only the first IPv4 --cluster-cidr/);
    assert.deepEqual(localMatchFor(o, 6, []), { kind: 'cidr', cidr: '2001:2::/48' });
  });
  it('NodeCIDR uses the pod CIDRs of its family; none yet means nothing is local', () => {
    const o = options({ mode: 'NodeCIDR', cidrs: ['198.19.1.0/24'] });
    assert.deepEqual(localMatchFor(o, 4, []), { kind: 'cidr', cidr: '198.19.1.0/24' });
    assert.equal(localMatchFor(o, 6, []), undefined);
    assert.equal(localMatchFor(options({ mode: 'NodeCIDR', cidrs: [] }), 4, []), undefined);
    assert.equal(localMatchFor(options({ mode: 'None' }, ['10.0.0.0/8']), 4, []), undefined);
  });
  it('interfaces serve both families', () => {
    const bridge = options({ mode: 'BridgeInterface', name: 'cbr0' });
    assert.deepEqual(localMatchFor(bridge, 6, []), { kind: 'interface', name: 'cbr0' });
    const prefix = options({ mode: 'InterfaceNamePrefix', prefix: 'veth' });
    assert.deepEqual(localMatchFor(prefix, 4, []), { kind: 'interface-prefix', prefix: 'veth' });
  });
  it('refuses a hostile name that reached the options without the CLI', () => {
    for (const name of ['cbr0 -j ACCEPT', 'x"; flush ruleset', 'eth+', '', 'a'.repeat(16), '..', 'a\nb']) {
      assert.throws(
        () => localMatchFor(options({ mode: 'BridgeInterface', name }), 4, []),
        /Invalid pod bridge interface/,
      );
    }
    for (const prefix of ['veth*', 'v th', 'a'.repeat(15)]) {
      assert.throws(
        () => localMatchFor(options({ mode: 'InterfaceNamePrefix', prefix }), 4, []),
        /Invalid pod interface name prefix/,
      );
    }
  });
});

describe('iptablesLocalMatch (upstream IfLocal / IfNotLocal)', () => {
  it('writes -s, -i and -i PREFIX+', () => {
    assert.equal(iptablesLocalMatch({ kind: 'cidr', cidr: '10.0.0.0/8' }, false), '-s 10.0.0.0/8');
    assert.equal(iptablesLocalMatch({ kind: 'cidr', cidr: '10.0.0.0/8' }, true), '! -s 10.0.0.0/8');
    assert.equal(iptablesLocalMatch({ kind: 'interface', name: 'cbr0' }, true), '! -i cbr0');
    assert.equal(iptablesLocalMatch({ kind: 'interface-prefix', prefix: 'veth' }, false), '-i veth+');
  });
});

describe('isLocalPacket', () => {
  const packet = (inInterface: string | undefined) => ({ inSource: () => false, inInterface });
  it('decides by interface when it is known, and cannot when it is not', () => {
    assert.equal(isLocalPacket({ kind: 'interface', name: 'cbr0' }, packet('cbr0')), true);
    assert.equal(isLocalPacket({ kind: 'interface', name: 'cbr0' }, packet('cbr01')), false);
    assert.equal(isLocalPacket({ kind: 'interface-prefix', prefix: 'veth' }, packet('veth9')), true);
    assert.equal(isLocalPacket({ kind: 'interface-prefix', prefix: 'veth' }, packet(undefined)), undefined);
    assert.equal(isLocalPacket({ kind: 'cidr', cidr: '10.0.0.0/8' }, packet(undefined)), false);
  });
});
