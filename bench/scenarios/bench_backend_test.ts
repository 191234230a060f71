import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extraAddresses } from './bench_backend.ts';

describe('extraAddresses', () => {
  it('numbers from .10 in the pod subnet, clear of the gateway (.1) and the pod (.2)', () => {
    const pod = {
      name: 'pod0',
      ns: 'kpt-x-p0',
      ip: '198.18.101.2',
      gateway6: '2001:2:0:d0::1',
      ip6: '2001:2:0:d0::2',
      gateway: '198.18.101.1',
    };
    assert.deepEqual(extraAddresses(pod, 3), ['198.18.101.10', '198.18.101.11', '198.18.101.12']);
  });
});
