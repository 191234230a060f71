// The chaos lab's manifests: the probed service through a rolling update, and the churn's rate of
// endpoint changes (the 10k a minute).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import {
  CHAOS_VIP,
  churnChanges,
  churnEndpoints,
  churnManifest,
  DEFAULT_CHURN,
  serviceManifest,
} from './manifests.ts';

/** A parsed manifest document, loosely typed for the assertions. */
interface Doc {
  readonly kind: string;
  readonly spec: { readonly clusterIP: string; readonly ports: readonly { readonly protocol: string }[] };
  readonly endpoints: readonly unknown[];
}

describe('serviceManifest', () => {
  it('lists ready and terminating endpoints with their conditions and leaves removed ones out', () => {
    const docs = parseAllDocuments(
      serviceManifest([
        { ip: '198.18.101.2', phase: 'terminating' },
        { ip: '198.18.102.2', phase: 'removed' },
        { ip: '198.18.103.2', phase: 'ready' },
      ]),
    ).map((d) => d.toJS() as Doc);
    assert.equal(docs.length, 2);
    assert.equal(docs[0]!.spec.clusterIP, CHAOS_VIP);
    assert.deepEqual(
      docs[0]!.spec.ports.map((p) => p.protocol),
      ['TCP', 'UDP'],
    );
    assert.deepEqual(docs[1]!.endpoints, [
      { addresses: ['198.18.101.2'], conditions: { ready: false, serving: true, terminating: true } },
      { addresses: ['198.18.103.2'], conditions: { ready: true, serving: true, terminating: false } },
    ]);
  });

  it('writes an empty endpoint list when every endpoint is removed', () => {
    const docs = parseAllDocuments(serviceManifest([{ ip: '198.18.101.2', phase: 'removed' }]));
    assert.deepEqual((docs[1]!.toJS() as Record<string, unknown>)['endpoints'], []);
  });
});

describe('churn', () => {
  it('changes 34 endpoints per step: about 10,200 a minute at 5 steps a second', () => {
    for (const step of [0, 1, 7, 19, 20, 123]) {
      assert.equal(
        churnChanges(DEFAULT_CHURN, step, step + 1),
        2 * DEFAULT_CHURN.replacedPerStep,
        `step ${step}`,
      );
    }
    assert.equal(churnChanges(DEFAULT_CHURN, 0, 1) * 5 * 60, 10_200);
  });

  it('keeps every service at its size, with distinct addresses in 198.18.200.0/22', () => {
    for (const step of [0, 5, 300]) {
      for (const addresses of churnEndpoints(DEFAULT_CHURN, step)) {
        assert.equal(addresses.length, DEFAULT_CHURN.endpointsPerService);
        assert.equal(new Set(addresses).size, addresses.length);
        for (const ip of addresses) assert.match(ip, /^198\.18\.20[0-3]\.\d+$/);
      }
    }
  });

  it('renders one Service and one EndpointSlice per churn service', () => {
    const docs = parseAllDocuments(churnManifest(DEFAULT_CHURN, 3)).map((d) => d.toJS() as Doc);
    assert.equal(docs.length, 2 * DEFAULT_CHURN.services);
    assert.equal(docs[0]!.kind, 'Service');
    assert.equal(docs[1]!.endpoints.length, DEFAULT_CHURN.endpointsPerService);
  });
});
