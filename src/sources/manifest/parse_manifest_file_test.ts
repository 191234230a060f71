import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProblem } from '../../model/problem.ts';
import { parseManifestFile } from './parse_manifest_file.ts';

const service = (name: string | undefined, clusterIP: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: name === undefined ? {} : { name },
  spec: { clusterIP, ports: [{ port: 80 }] },
});

/** One item per line, as generators and the benchmark write lists. */
function jsonList(items: readonly unknown[]): string {
  return `{"apiVersion":"v1","kind":"List","items":[\n${items.map((i) => JSON.stringify(i)).join(',\n')}\n]}\n`;
}

function summary(file: string, text: string) {
  const parsed = parseManifestFile(file, text);
  return {
    ok: parsed.ok,
    entries: parsed.ok ? parsed.entries : [],
    problems: parsed.problems.map(formatProblem),
  };
}

/** The same text read as YAML: a trailing empty document makes it invalid JSON, and changes no line. */
function asYaml(file: string, text: string) {
  return summary(file, `${text}\n---\n`);
}

describe('parseManifestFile on JSON', () => {
  it('gives what the YAML reading gives, lines of problems included', () => {
    const text = jsonList([
      service('web', '10.96.0.1'),
      service(undefined, '10.96.0.2'),
      { apiVersion: 'v1', metadata: { name: 'orphan' } },
      'not an object',
      { apiVersion: 'v1', kind: 'List', items: [service('api', 'not-an-ip')] },
      { kind: 'Service', metadata: { name: 'no-version' } },
    ]);
    const json = summary('a.json', text);
    assert.deepEqual(json, asYaml('a.json', text));
    assert.deepEqual(
      json.entries.map((e) => `${e.identity} ${e.status}`),
      ['Service/default/web valid', 'Service/default/api invalid'],
    );
    assert.deepEqual(
      json.problems.filter((p) => p.includes('(line')),
      [
        'a.json: Service default/: metadata.name: required (line 3)',
        'a.json: ? default/orphan: kind: required (line 4)',
        'a.json: ?: not a mapping: got "not an object" (line 5)',
        'a.json: Service default/no-version: apiVersion: required (line 7)',
      ],
    );
  });

  it('rejects duplicate keys as YAML does, instead of keeping the last one', () => {
    const text = '{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","name":"b"},"spec":{}}';
    const json = summary('dup.json', text);
    assert.equal(json.ok, false);
    assert.deepEqual(json, asYaml('dup.json', text));
  });

  it('reads a "<<" key as the YAML reading does', () => {
    const text = JSON.stringify({
      ...service('web', '10.96.0.1'),
      spec: { '<<': service('x', '10.96.0.9').spec },
    });
    const json = summary('merge.json', text);
    assert.deepEqual(json, asYaml('merge.json', text));
    assert.equal(json.entries.length, 1);
  });

  it('is not misled by quotes and colons inside strings', () => {
    const text = JSON.stringify({
      ...service('web', '10.96.0.1'),
      metadata: { name: 'web', annotations: { 'a\\"b:': 'c":{"d":1}', e: '\\' } },
    });
    const json = summary('quotes.json', text);
    assert.deepEqual(json, asYaml('quotes.json', text));
    assert.equal(json.entries[0]?.status, 'valid');
  });

  it('reads a JSON file with a string of millions of escapes', () => {
    const annotations = { note: '\\"'.repeat(2_000_000) };
    const text = JSON.stringify({ ...service('web', '10.96.0.1'), metadata: { name: 'web', annotations } });
    assert.deepEqual(
      summary('long.json', text).entries.map((e) => `${e.identity} ${e.status}`),
      ['Service/default/web valid'],
    );
  });
});

describe('parseManifestFile with topology fields', () => {
  it('keeps objects whose trafficDistribution or hints are bad, without them, and reports the fields', () => {
    const text = `apiVersion: v1
kind: Service
metadata: { name: web }
spec: { clusterIP: 10.96.0.1, ports: [{ port: 80 }], trafficDistribution: Closest }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ port: 80 }]
endpoints:
  - { addresses: [198.18.1.1], hints: { forZones: [{ name: zone-a }], forNodes: [{ name: node-a }] } }
  - { addresses: [198.18.1.2], hints: { forZones: [{ name: "not a zone" }] } }
`;
    const parsed = summary('t.yaml', text);
    assert.deepEqual(
      parsed.entries.map((e) => `${e.identity} ${e.status}`),
      ['Service/default/web valid', 'EndpointSlice/default/web-1 valid'],
    );
    assert.deepEqual(parsed.problems, [
      't.yaml: Service default/web: spec.trafficDistribution: must be PreferClose, PreferSameZone or PreferSameNode, got "Closest"',
      't.yaml: EndpointSlice default/web-1: endpoints[1].hints.forZones[0].name: not a label value: "not a zone"',
    ]);
    const slice = parsed.entries[1]?.objects[0];
    assert.deepEqual(
      slice?.kind === 'EndpointSlice' ? slice.spec.endpoints.map((e) => [e.zoneHints, e.nodeHints]) : [],
      [
        [['zone-a'], ['node-a']],
        [[], []],
      ],
    );
  });
});
