import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  endpointObjectNames,
  isServiceObjectName,
  NFT_COMMENT_MAX,
  NFT_NAME_MAX,
  NFT_NAMES,
  safeComment,
  serviceObjectNames,
} from './names.ts';

const svc = (namespace: string, serviceName: string, portName = 'p80', protocol = 'TCP') => ({
  namespace,
  serviceName,
  portName,
  protocol,
});

describe('nftables object names', () => {
  it("are upstream's for ordinary objects (pkg/proxy/nftables proxier_test.go)", () => {
    assert.equal(serviceObjectNames(svc('ns1', 'svc1')).cluster, 'service-ULMVA6XW-ns1/svc1/tcp/p80');
    assert.equal(serviceObjectNames(svc('ns2', 'svc2')).external, 'external-42NFTM6N-ns2/svc2/tcp/p80');
    assert.equal(serviceObjectNames(svc('ns5', 'svc5')).firewall, 'firewall-HVFWP5L3-ns5/svc5/tcp/p80');
    assert.equal(
      endpointObjectNames(svc('ns1', 'svc1'), '10.180.0.1', 80).chain,
      'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80',
    );
    assert.equal(
      endpointObjectNames(svc('ns5', 'svc5'), '10.180.0.3', 80).affinitySet,
      'affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80',
    );
  });

  it('keep only identifier characters, and stay distinct when made safe alike', () => {
    const a = serviceObjectNames(svc('ns1', 'a/b')).cluster;
    const b = serviceObjectNames(svc('ns1', 'a_b')).cluster;
    assert.match(a, /^service-[A-Z2-7]{8}-ns1\/a_b\/tcp\/p80$/);
    assert.notEqual(a, b);
    assert.match(
      serviceObjectNames(svc('ns"1', 'x y', 'p;80')).local,
      /^local-[A-Z2-7]{8}-ns_1\/x_y\/tcp\/p_80$/,
    );
  });

  it('are cut to what the kernel accepts, keeping the hash', () => {
    const long = 'x'.repeat(300);
    const names = [
      ...Object.values(serviceObjectNames(svc(long, long, long))).filter((n) => n.includes('-')),
      ...Object.values(endpointObjectNames(svc(long, long, long), '10.180.0.1', 65535)),
    ];
    for (const n of names) {
      assert.ok(n.length <= NFT_NAME_MAX, n);
      assert.ok(n.endsWith('...'), n);
    }
  });

  it('of the fixed objects have no slash; per-service ones do', () => {
    for (const n of Object.values(NFT_NAMES)) assert.equal(isServiceObjectName(n), false, n);
    assert.ok(isServiceObjectName(serviceObjectNames(svc('ns1', 'svc1')).cluster));
  });
});

describe('nftables comments', () => {
  it('keep printable ASCII and replace quotes, backslashes and control characters', () => {
    assert.equal(safeComment('ns1/svc1:p80'), 'ns1/svc1:p80');
    assert.equal(safeComment('a"b\\c\nd\u00e9'), 'a?b?c?d?');
  });

  it("are cut to nft's limit", () => {
    const c = safeComment('c'.repeat(500));
    assert.equal(c.length, NFT_COMMENT_MAX);
    assert.ok(c.endsWith('...'));
  });
});
