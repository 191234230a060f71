import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyPatch } from './patch.ts';

const service = {
  metadata: { name: 'web', labels: { a: '1', b: '2' } },
  spec: {
    ports: [
      { name: 'http', port: 80, targetPort: 8080 },
      { name: 'https', port: 443, targetPort: 8443 },
    ],
    selector: { app: 'web' },
  },
};

describe('applyPatch', () => {
  it('JSON patch: replace, add at the end, remove, test', () => {
    const r = applyPatch('application/json-patch+json', service, [
      { op: 'test', path: '/spec/ports/0/port', value: 80 },
      { op: 'replace', path: '/spec/ports/0/targetPort', value: 9090 },
      { op: 'add', path: '/spec/ports/-', value: { name: 'dns', port: 53 } },
      { op: 'remove', path: '/metadata/labels/b' },
    ]);
    assert.ok(r.ok);
    assert.deepEqual(
      (r.value.spec as typeof service.spec).ports.map((p) => [p.port, p.targetPort]),
      [
        [80, 9090],
        [443, 8443],
        [53, undefined],
      ],
    );
    assert.deepEqual((r.value.metadata as typeof service.metadata).labels, { a: '1' });
    assert.deepEqual(service.spec.ports[0]?.targetPort, 8080, 'the target is not modified');
  });

  it('JSON patch: a failed test or a missing path is refused, naming the operation', () => {
    const r = applyPatch('application/json-patch+json', service, [
      { op: 'replace', path: '/spec/nothing/here', value: 1 },
    ]);
    assert.deepEqual(r, { ok: false, message: 'operation 0: nothing to replace at /spec/nothing/here' });
    const t = applyPatch('application/json-patch+json', service, [
      { op: 'test', path: '/spec/ports/0/port', value: 81 },
    ]);
    assert.equal(t.ok, false);
  });

  it('merge patch: objects merge, null deletes, lists are replaced', () => {
    const r = applyPatch('application/merge-patch+json', service, {
      metadata: { labels: { a: null, c: '3' } },
      spec: { ports: [{ port: 8080 }] },
    });
    assert.ok(r.ok);
    assert.deepEqual((r.value.metadata as typeof service.metadata).labels, { b: '2', c: '3' });
    assert.deepEqual((r.value.spec as Record<string, unknown>).ports, [{ port: 8080 }]);
  });

  it('strategic merge patch: Service ports merge by port, with the directives kubectl apply sends', () => {
    const r = applyPatch('application/strategic-merge-patch+json', service, {
      spec: {
        '$setElementOrder/ports': [{ port: 443 }, { port: 80 }],
        ports: [
          { port: 80, targetPort: 9090 },
          { port: 443, $patch: 'delete' },
          { port: 53, name: 'dns' },
        ],
        selector: { $patch: 'replace', tier: 'front' },
      },
    });
    assert.ok(r.ok);
    const spec = r.value.spec as Record<string, unknown>;
    assert.deepEqual(spec.ports, [
      { name: 'http', port: 80, targetPort: 9090 },
      { port: 53, name: 'dns' },
    ]);
    assert.deepEqual(spec.selector, { tier: 'front' });
  });

  it('strategic merge patch: lists without a merge key (EndpointSlice endpoints) are replaced', () => {
    const slice = { endpoints: [{ addresses: ['198.18.0.1'] }, { addresses: ['198.18.0.2'] }] };
    const r = applyPatch('application/strategic-merge-patch+json', slice, {
      endpoints: [{ addresses: ['198.18.0.3'] }],
    });
    assert.deepEqual(r, { ok: true, value: { endpoints: [{ addresses: ['198.18.0.3'] }] } });
  });
});
