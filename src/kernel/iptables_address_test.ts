/**
 * Addresses and networks of both families: IPv6 parse and canonical printing (RFC 5952, as the API
 * server and ip6tables-save print them), containment, and the family-generic helpers never matching
 * across families.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalIpOf,
  cidrContainsIp,
  formatCidr,
  formatIpv6,
  parseCidr,
  parseIp,
  parseIpv4,
  parseIpv6,
  parseIpv6Cidr,
} from './iptables_address.ts';

describe('IPv6 addresses', () => {
  it('parses compressed, full and dotted-tail forms', () => {
    assert.equal(parseIpv6('::'), 0n);
    assert.equal(parseIpv6('::1'), 1n);
    assert.equal(parseIpv6('2001:2::1'), 0x2001_0002_0000_0000_0000_0000_0000_0001n);
    assert.equal(parseIpv6('2001:0002:0000:0000:0000:0000:0000:0001'), parseIpv6('2001:2::1'));
    assert.equal(parseIpv6('::ffff:198.18.0.1'), 0xffff_c612_0001n);
    assert.equal(parseIpv6('fe80::1'), 0xfe80_0000_0000_0000_0000_0000_0000_0001n);
  });

  it('rejects what is no plain IPv6 address', () => {
    for (const bad of [
      '198.18.0.1',
      'fe80::1%eth0',
      '1::2::3',
      '2001:2::/48',
      '',
      'g::1',
      '1:2:3:4:5:6:7:8:9',
    ]) {
      assert.equal(parseIpv6(bad), undefined, bad);
    }
  });

  it('prints the RFC 5952 form: lower case, the first longest zero run compressed, never a single zero group', () => {
    const cases: [string, string][] = [
      ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'],
      ['1:2:3:4:5:6:0:0', '1:2:3:4:5:6::'],
      ['2001:2:0:f::10', '2001:2:0:f::10'],
    ];
    for (const [input, printed] of cases) assert.equal(formatIpv6(parseIpv6(input)!), printed, input);
  });
});

describe('IPv6 networks', () => {
  it('clears host bits and prints as ip6tables-save does', () => {
    assert.equal(formatCidr(parseIpv6Cidr('2001:2::5/48')!), '2001:2::/48');
    assert.equal(formatCidr(parseIpv6Cidr('2001:2::5')!), '2001:2::5/128');
    assert.equal(formatCidr(parseIpv6Cidr('::/0')!), '::/0');
    assert.equal(parseIpv6Cidr('2001:2::/129'), undefined);
    assert.equal(parseIpv6Cidr('2001:2::/ffff::'), undefined);
  });

  it('contains the addresses of its prefix only', () => {
    const net = parseIpv6Cidr('2001:2:0:f::/64')!;
    assert.equal(cidrContainsIp(net, parseIpv6('2001:2:0:f::10')!), true);
    assert.equal(cidrContainsIp(net, parseIpv6('2001:2:0:10::10')!), false);
    assert.equal(cidrContainsIp(parseIpv6Cidr('::/0')!, parseIpv6('2001:2::1')!), true);
  });
});

describe('family-generic helpers', () => {
  it('parse only addresses of the family asked for', () => {
    assert.equal(parseIp('198.18.0.1', 'IPv4'), parseIpv4('198.18.0.1'));
    assert.equal(parseIp('198.18.0.1', 'IPv6'), undefined);
    assert.equal(parseIp('2001:2::1', 'IPv4'), undefined);
    assert.equal(canonicalIpOf('2001:0002::0001', 'IPv6'), '2001:2::1');
    assert.equal(canonicalIpOf('198.18.0.1', 'IPv4'), '198.18.0.1');
    assert.equal(parseCidr('198.18.0.0/15', 'IPv6'), undefined);
    assert.equal(formatCidr(parseCidr('198.18.3.0/15', 'IPv4')!), '198.18.0.0/15');
  });

  it('never match an address of the other family', () => {
    // ::/0 and 0.0.0.0/0 contain everything of their family, nothing of the other.
    assert.equal(cidrContainsIp(parseCidr('::/0', 'IPv6')!, parseIpv4('198.18.0.1')!), false);
    assert.equal(cidrContainsIp(parseCidr('0.0.0.0/0', 'IPv4')!, parseIpv6('::1')!), false);
    assert.equal(cidrContainsIp(parseCidr('0.0.0.0/0', 'IPv4')!, parseIpv4('198.18.0.1')!), true);
  });
});
