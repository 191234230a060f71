/**
 * Properties of manifest parsing (issue 17): any text never throws and gives one-line problems that name
 * their file; a file of valid and mutated Services and EndpointSlices keeps every good object and reports
 * every bad one with exactly the problems its validator finds, in file order; the JSON fast path and the
 * YAML path agree. Generators: src/model/testing/arbitraries.ts (fixed seed; KPROXY_FC_SEED overrides).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { formatProblem, type ObjectProblem } from '../../model/problem.ts';
import {
  applyMutation,
  arbMutation,
  arbRawCluster,
  propertyParameters,
} from '../../model/testing/arbitraries.ts';
import { validateEndpointSlice } from '../../model/validate_endpoints.ts';
import { NO_CLUSTER_IP_REASON, validateService } from '../../model/validate_service.ts';
import type { Validated } from '../../model/validated.ts';
import { type ParsedManifestFile, parseManifestFile } from './parse_manifest_file.ts';

const FILE = 'fuzz.yaml';
const CODES = new Set([
  'KPROXY_PARSE',
  'KPROXY_SHAPE',
  'KPROXY_FIELD',
  'KPROXY_DUPLICATE',
  'KPROXY_UNSUPPORTED',
]);

/** Every problem is well formed: its file, a known code, a reason, and one line when formatted. */
function assertWellFormed(result: ParsedManifestFile): void {
  for (const p of result.problems) {
    assert.equal(p.file, FILE);
    assert.ok(CODES.has(p.code), p.code);
    assert.notEqual(p.reason, '');
    assert.doesNotMatch(formatProblem(p), /[\n\r]/, `object text escapes its log line: ${JSON.stringify(p)}`);
  }
}

/** Kubernetes-ish documents: objects of our kinds with arbitrary fields, lists of them, any JSON. */
const arbDocument: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record(
    {
      apiVersion: fc.constantFrom('v1', 'discovery.k8s.io/v1', 'discovery.k8s.io/v1beta1', 'apps/v1', 7),
      kind: fc.constantFrom('Service', 'EndpointSlice', 'Endpoints', 'List', 'ServiceList', 'Deployment', ''),
      metadata: fc.oneof(
        fc.record(
          { name: fc.oneof(fc.string(), fc.constant('web')), namespace: fc.string() },
          { requiredKeys: [] },
        ),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      spec: fc.jsonValue({ maxDepth: 3 }),
      items: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
      endpoints: fc.jsonValue({ maxDepth: 3 }),
      subsets: fc.jsonValue({ maxDepth: 3 }),
    },
    { requiredKeys: ['kind'] },
  ),
);

describe('parseManifestFile properties', () => {
  it('never throws on any text, and every problem names the file on one line', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: fc.constantFrom(...'{}[]:,-\'" \n\t#&*!|>%@`kind'), maxLength: 80 }),
    );
    fc.assert(
      fc.property(text, (t) => {
        assertWellFormed(parseManifestFile(FILE, t));
      }),
      propertyParameters(400),
    );
  });

  it('never throws on any document, as YAML or JSON, and both forms give the same result', () => {
    fc.assert(
      fc.property(fc.array(arbDocument, { minLength: 1, maxLength: 4 }), (documents) => {
        const yamlText = documents.map((d) => stringify(d)).join('---\n');
        const yamlResult = parseManifestFile(FILE, yamlText);
        assertWellFormed(yamlResult);
        // One JSON document: what a generator or kubectl -o json writes (the fast path).
        const jsonText = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: documents });
        const jsonResult = parseManifestFile(FILE, jsonText);
        assertWellFormed(jsonResult);
        // The same text made unfit for the fast path (a second, empty document): the YAML path's answer.
        assert.deepEqual(jsonResult, parseManifestFile(FILE, `${jsonText}\n---\n`));
      }),
      propertyParameters(300),
    );
  });
});

/** An object of the file with what its own validator says of it. */
interface Expected {
  readonly kind: 'Service' | 'EndpointSlice';
  readonly object: Record<string, unknown>;
  readonly result: Validated<unknown>;
}

function validate(object: Record<string, unknown>): Expected {
  const kind = object['kind'] === 'Service' ? 'Service' : 'EndpointSlice';
  const result = kind === 'Service' ? validateService(object, FILE) : validateEndpointSlice(object, FILE);
  return { kind, object, result };
}

/** The problems the file must report for an object: its validator's, or the missing cluster IP's. */
function expectedProblems(e: Expected): ObjectProblem[] {
  if (e.result.ok === false) return [...e.result.problems];
  if (e.result.ok === 'skipped' && e.result.reason === NO_CLUSTER_IP_REASON) {
    const metadata = e.object['metadata'] as Record<string, unknown>;
    return [
      {
        code: 'KPROXY_UNSUPPORTED',
        file: FILE,
        kind: e.kind,
        namespace: metadata['namespace'] as string,
        name: metadata['name'] as string,
        field: 'spec.clusterIP',
        reason: 'not set: a manifest must give the cluster IP the API server would allocate; not proxied',
      },
    ];
  }
  return [];
}

// What identifies an object in the file (kind, apiVersion, name, namespace) stays: a mutation of those
// makes another object (or none), which the properties above cover.
const IDENTITY = ['apiVersion', 'kind', 'metadata.name', 'metadata.namespace'];

describe('a file of good and bad objects', () => {
  it('keeps every good object and reports every bad one with exactly its problems', () => {
    const arbFile = arbRawCluster({ maxServices: 4 }).chain((cluster) => {
      const objects = [...cluster.services, ...cluster.slices];
      return fc.tuple(
        fc.constant(objects),
        fc.array(fc.option(fc.array(arbMutation(), { minLength: 1, maxLength: 3 }), { nil: undefined }), {
          minLength: objects.length,
          maxLength: objects.length,
        }),
        fc.boolean(),
      );
    });
    fc.assert(
      fc.property(arbFile, ([objects, mutations, asJson]) => {
        const mutated = objects.map((o, i) =>
          (mutations[i] ?? []).reduce((acc, m) => applyMutation(acc, m, IDENTITY), o),
        );
        const expected = mutated.map(validate);
        // Never again: an object refused without a problem (a null port item was one).
        assert.ok(!expected.some((e) => e.result.ok === false && e.result.problems.length === 0));
        // The generator's objects are valid; a mutation may leave one valid, skipped or bad.
        objects.forEach((o, i) => {
          if (mutations[i] === undefined) assert.equal(expected[i]!.result.ok, true, JSON.stringify(o));
        });
        const text = asJson
          ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: mutated })
          : mutated.map((o) => stringify(o)).join('---\n');
        const result = parseManifestFile(FILE, text);
        assert.equal(result.ok, true);
        if (result.ok !== true) return;
        assertWellFormed(result);
        // N good objects give N valid entries, with what their validator gives, in file order.
        const good = expected.filter((e) => e.result.ok === true);
        const valid = result.entries.filter((e) => e.status === 'valid');
        assert.equal(valid.length, good.length);
        valid.forEach((entry, i) => {
          const e = good[i]!;
          const value = e.result.ok === true ? e.result.value : undefined;
          const specs = entry.objects.map((o) => o.spec);
          assert.deepEqual(specs, [value]);
        });
        // M bad objects give exactly their problems (each naming file, object, field and reason), in order.
        assert.deepEqual(result.problems, expected.flatMap(expectedProblems));
        for (const e of expected.filter((x) => x.result.ok === false)) {
          const metadata = e.object['metadata'] as Record<string, unknown>;
          const mine = result.problems.filter(
            (p) => p.kind === e.kind && p.namespace === metadata['namespace'] && p.name === metadata['name'],
          );
          assert.ok(mine.length > 0, `a bad ${e.kind} ${String(metadata['name'])} is not reported`);
          for (const p of mine) assert.notEqual(p.field, '', formatProblem(p));
        }
      }),
      propertyParameters(300),
    );
  });
});

describe('known bugs found by the properties', () => {
  // Found by the property: a port item that is null (`ports: [~]`, or an empty `-` item) made the slice
  // invalid with no problem at all (dropped silently). It is now a problem naming the item.
  it('a slice whose port item is null is reported, not dropped silently', () => {
    const text =
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n' +
      'metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [~]\n';
    const result = parseManifestFile(FILE, text);
    assert.equal(result.problems.length, 1);
    assert.equal(result.problems[0]?.field, 'ports[0]');
    assert.match(result.problems[0]!.reason, /must be a mapping, got nothing/);
  });

  // Found by the property: object text was quoted with JSON.stringify alone, which leaves the line
  // separators U+2028/U+2029 and the C1 controls (U+0085 NEL, U+009B CSI) as they are.
  it('a reason quotes line separators and C1 controls escaped', () => {
    const text = 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: "\\u2028\\u009b"}\n';
    const result = parseManifestFile(FILE, text);
    assert.equal(result.problems.length, 1);
    assert.doesNotMatch(formatProblem(result.problems[0]!), /[\u0080-\u009f\u2028\u2029]/);
  });
});
