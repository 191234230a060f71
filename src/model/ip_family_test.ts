import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IP_FAMILIES, ipFamilyOf, ofFamily } from './ip_family.ts';

describe('ip_family', () => {
  it('plans, prints and syncs IPv4 first', () => {
    assert.deepEqual(IP_FAMILIES, ['IPv4', 'IPv6']);
  });

  it('tells the family of an address or CIDR', () => {
    assert.equal(ipFamilyOf('198.18.0.1'), 'IPv4');
    assert.equal(ipFamilyOf('198.18.0.0/15'), 'IPv4');
    assert.equal(ipFamilyOf('2001:2::1'), 'IPv6');
    assert.equal(ipFamilyOf('2001:2::/48'), 'IPv6');
    assert.equal(ipFamilyOf('::ffff:198.18.0.1'), 'IPv6', 'an IPv4-mapped address is IPv6');
  });

  it('keeps the addresses of one family in their order', () => {
    const mixed = ['2001:2::2', '198.18.0.1', '2001:2::1', '198.18.0.2'];
    assert.deepEqual(ofFamily(mixed, 'IPv4'), ['198.18.0.1', '198.18.0.2']);
    assert.deepEqual(ofFamily(mixed, 'IPv6'), ['2001:2::2', '2001:2::1']);
    assert.deepEqual(ofFamily([], 'IPv6'), []);
  });

  it('returns the array itself when every address is of the family', () => {
    const v4 = ['198.18.0.1', '198.18.0.2'];
    assert.equal(ofFamily(v4, 'IPv4'), v4);
    assert.deepEqual(ofFamily(v4, 'IPv6'), []);
  });
});
