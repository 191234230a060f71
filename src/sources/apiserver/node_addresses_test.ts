import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeAddresses } from './node_addresses.ts';

const node = (addresses: unknown): unknown => ({ status: { addresses } });

describe('nodeAddresses', () => {
  it('returns the InternalIP addresses in reported order, dual-stack included', () => {
    const n = node([
      { type: 'Hostname', address: 'node-1' },
      { type: 'InternalIP', address: '198.18.0.5' },
      { type: 'ExternalIP', address: '198.19.0.5' },
      { type: 'InternalIP', address: 'fd00::5' },
    ]);
    assert.deepEqual(nodeAddresses(n), ['198.18.0.5', 'fd00::5']);
  });
  it('falls back to ExternalIP addresses when there is no InternalIP', () => {
    assert.deepEqual(nodeAddresses(node([{ type: 'ExternalIP', address: '198.19.0.5' }])), ['198.19.0.5']);
  });
  it('ignores what is not an IP address and duplicates', () => {
    const n = node([
      { type: 'InternalIP', address: '198.18.0.5; rm -rf /' },
      { type: 'InternalIP', address: '198.18.0.6' },
      { type: 'InternalIP', address: '198.18.0.6' },
      null,
      'x',
    ]);
    assert.deepEqual(nodeAddresses(n), ['198.18.0.6']);
  });
  it('returns nothing for a node without status', () => {
    assert.deepEqual(nodeAddresses({ metadata: { name: 'n' } }), []);
    assert.deepEqual(nodeAddresses(undefined), []);
  });
});
