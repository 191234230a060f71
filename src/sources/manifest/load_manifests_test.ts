import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatProblem } from '../../model/problem.ts';
import type { ServiceSpec } from '../../model/types.ts';
import { keepLastGood, loadManifests } from './load_manifests.ts';
import { parseManifestFile } from './parse_manifest_file.ts';

function service(name: string, clusterIP: string, namespace = 'shop'): string {
  return [
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    'spec:',
    `  clusterIP: ${clusterIP}`,
    '  ports: [{port: 80}]',
    '',
  ].join('\n');
}

function load(files: Record<string, string>) {
  const { objects, problems } = loadManifests(new Map(Object.entries(files)));
  return { keys: [...objects.keys()], objects, problems: problems.map(formatProblem) };
}

function clusterIPOf(loaded: ReturnType<typeof load>, key: string): string | undefined {
  const object = loaded.objects.get(key)?.object;
  return object?.kind === 'Service' ? (object.spec as ServiceSpec).clusterIPs[0] : undefined;
}

describe('loadManifests', () => {
  it('reads every document of a multi-document file', () => {
    const text = `${service('web', '10.96.0.1')}---\n${service('api', '10.96.0.2')}---\n`;
    assert.deepEqual(load({ 'a.yaml': text }).keys, ['Service/shop/api', 'Service/shop/web']);
  });

  it('reads kind: List items, and items of typed lists that carry no kind', () => {
    const list = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}}',
    ].join('\n');
    const typed = [
      'apiVersion: discovery.k8s.io/v1',
      'kind: EndpointSliceList',
      'items:',
      '- metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}',
      '  addressType: IPv4',
      '  endpoints: [{addresses: [10.1.0.1]}]',
    ].join('\n');
    const loaded = load({ 'list.yaml': list, 'typed.yaml': typed });
    assert.deepEqual(loaded.keys, ['EndpointSlice/default/web-1', 'Service/default/web']);
    assert.deepEqual(loaded.problems, []);
  });

  it('reads JSON files', () => {
    const json = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'db', namespace: 'shop' },
      subsets: [{ addresses: [{ ip: '192.0.2.10' }], ports: [{ port: 5432 }] }],
    });
    const loaded = load({ 'db.json': json });
    assert.deepEqual(loaded.keys, ['Endpoints/shop/db']);
    assert.equal(loaded.objects.get('Endpoints/shop/db')?.file, 'db.json');
  });

  it('ignores kinds it does not proxy, and Services of other API groups, silently', () => {
    const text = [
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: b}\n',
      'apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: web}\nspec: {template: {}}\n',
      service('web', '10.96.0.1'),
    ].join('---\n');
    const loaded = load({ 'app.yaml': text });
    assert.deepEqual(loaded.keys, ['Service/shop/web']);
    assert.deepEqual(loaded.problems, []);
  });

  it('reports a document without kind, with its line', () => {
    const text = `${service('web', '10.96.0.1')}---\napiVersion: v1\nmetadata: {name: orphan}\n`;
    assert.deepEqual(load({ 'a.yaml': text }).problems, [
      'a.yaml: ? default/orphan: kind: required (line 10)',
    ]);
  });

  it('reports a nameless object with its line', () => {
    const text = `${service('web', '10.96.0.1')}---\napiVersion: v1\nkind: Service\nspec: {clusterIP: 10.96.0.9, ports: [{port: 80}]}\n`;
    assert.deepEqual(load({ 'a.yaml': text }).problems, [
      'a.yaml: Service default/: metadata.name: required (line 10)',
    ]);
  });

  it('reports a YAML syntax error with its line, and serves nothing from that file', () => {
    const loaded = load({
      'bad.yaml': 'kind: Service\nmetadata:\n  name: [web\n',
      'ok.yaml': service('api', '10.96.0.2'),
    });
    assert.deepEqual(loaded.keys, ['Service/shop/api']);
    assert.equal(loaded.problems.length, 1);
    assert.match(loaded.problems[0] ?? '', /^bad\.yaml: \?: line 4, column 1: /);
  });

  it('reports the deprecated discovery.k8s.io/v1beta1 EndpointSlice as unsupported', () => {
    const text =
      'apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: web-1}\naddressType: IPv4\n';
    assert.deepEqual(load({ 'a.yaml': text }).problems, [
      'a.yaml: EndpointSlice default/web-1: apiVersion: discovery.k8s.io/v1beta1 is not supported (removed in Kubernetes 1.25): use discovery.k8s.io/v1',
    ]);
  });

  it('tells that a Service without clusterIP is not proxied', () => {
    const text = 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n';
    const loaded = load({ 'a.yaml': text });
    assert.deepEqual(loaded.keys, []);
    assert.deepEqual(loaded.problems, [
      'a.yaml: Service default/web: spec.clusterIP: not set: a manifest must give the cluster IP the API server would allocate; not proxied',
    ]);
  });

  it('keeps the first of two definitions, in sorted file order, and names both files', () => {
    const loaded = load({ 'b.yaml': service('web', '10.96.0.2'), 'a.yaml': service('web', '10.96.0.1') });
    assert.equal(clusterIPOf(loaded, 'Service/shop/web'), '10.96.0.1');
    assert.deepEqual(loaded.problems, [
      'b.yaml: Service shop/web: also defined in a.yaml: this definition is ignored',
    ]);
  });

  it('reports a duplicate within one file and keeps the first', () => {
    const loaded = load({ 'a.yaml': `${service('web', '10.96.0.1')}---\n${service('web', '10.96.0.2')}` });
    assert.equal(clusterIPOf(loaded, 'Service/shop/web'), '10.96.0.1');
    assert.deepEqual(loaded.problems, [
      'a.yaml: Service shop/web: also defined earlier in this file: this definition is ignored',
    ]);
  });

  it('reports a legacy Endpoints slice name that clashes with another Endpoints object', () => {
    const endpoints = (name: string, ips: string[]) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name, namespace: 'shop' },
        subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ port: 80 }] }],
      });
    const loaded = load({
      'a.json': endpoints('web', ['10.1.0.1', 'fd00::1']),
      'b.json': endpoints('web-ipv6', ['10.1.0.2']),
    });
    assert.deepEqual(loaded.keys, ['Endpoints/shop/web', 'Endpoints/shop/web-ipv6']);
    assert.equal(loaded.objects.get('Endpoints/shop/web-ipv6')?.file, 'a.json');
    assert.deepEqual(loaded.problems, [
      'b.json: Endpoints shop/web-ipv6: gives Endpoints/shop/web-ipv6, also given in a.json: this definition is ignored',
    ]);
  });

  it('treats objects of the same name in different namespaces or kinds as different', () => {
    const text = `${service('web', '10.96.0.1')}---\n${service('web', '10.96.0.2', 'blog')}`;
    assert.deepEqual(load({ 'a.yaml': text }).keys, ['Service/blog/web', 'Service/shop/web']);
  });

  it('loads the sample manifests directory without problems', () => {
    const root = new URL('./testdata/', import.meta.url);
    const names = ['cluster-dump.yaml', 'legacy-db.json', 'shop/db.yaml', 'shop/web.yaml'];
    const files = Object.fromEntries(names.map((name) => [name, readFileSync(new URL(name, root), 'utf8')]));
    const loaded = load(files);
    assert.deepEqual(loaded.problems, []);
    assert.deepEqual(loaded.keys, [
      'EndpointSlice/ingress/ingress-nginx-4kx9z',
      'EndpointSlice/ingress/ingress-nginx-v6m2d',
      'EndpointSlice/kube-system/kube-dns-q8w4r',
      'EndpointSlice/shop/web-7xk2p',
      'Endpoints/shop/legacy-db',
      'Service/ingress/ingress-nginx',
      'Service/kube-system/kube-dns',
      'Service/shop/legacy-db',
      'Service/shop/web',
    ]);
  });
});

describe('keepLastGood', () => {
  const good = parseManifestFile('a.yaml', service('web', '10.96.0.1'));
  const bad = parseManifestFile('a.yaml', service('web', 'not-an-ip'));
  const gone = parseManifestFile('a.yaml', service('api', '10.96.0.2'));
  assert.ok(good.ok && bad.ok && gone.ok);

  it('gives an invalid object the objects of its last good version', () => {
    const [entry] = keepLastGood(good.entries, bad.entries);
    assert.equal(entry?.status, 'invalid');
    assert.deepEqual(entry?.objects, good.entries[0]?.objects);
  });

  it('carries the last good version on through several invalid versions', () => {
    const [entry] = keepLastGood(keepLastGood(good.entries, bad.entries), bad.entries);
    assert.deepEqual(entry?.objects, good.entries[0]?.objects);
  });

  it('gives a new invalid object nothing, and drops objects no longer in the file', () => {
    assert.deepEqual(keepLastGood(undefined, bad.entries)[0]?.objects, []);
    assert.deepEqual(
      keepLastGood(good.entries, gone.entries).map((e) => e.identity),
      ['Service/shop/api'],
    );
  });
});

describe('loadManifests: this proxy’s Node', () => {
  const nodeYaml = (name: string, zone: string, ip = '198.18.0.1') =>
    [
      'apiVersion: v1',
      'kind: Node',
      'metadata:',
      `  name: ${name}`,
      `  labels: {topology.kubernetes.io/zone: "${zone}"}`,
      `spec: {podCIDRs: [198.19.1.0/24]}`,
      `status: {addresses: [{type: InternalIP, address: "${ip}"}]}`,
      '',
    ].join('\n');

  it('reads the Node named like this node, and ignores other Nodes', () => {
    const files = new Map([
      ['nodes.yaml', `${nodeYaml('node-b', 'zone-b')}---\n${nodeYaml('node-a', 'zone-a')}`],
    ]);
    const loaded = loadManifests(files, { nodeName: 'node-a' });
    assert.deepEqual(loaded.problems, []);
    assert.deepEqual([...loaded.objects.keys()], []);
    assert.equal(loaded.node?.zone, 'zone-a');
    assert.deepEqual(loaded.node?.addresses, ['198.18.0.1']);
    assert.deepEqual(loaded.node?.podCIDRs, ['198.19.1.0/24']);
  });

  it('ignores every Node when no node name is given', () => {
    const loaded = loadManifests(new Map([['n.yaml', nodeYaml('node-a', 'bad zone!')]]));
    assert.deepEqual(loaded.problems, []);
    assert.equal(loaded.node, undefined);
  });

  it('reports a bad Node naming file, object, field and reason, and a duplicate Node', () => {
    const bad = loadManifests(new Map([['n.yaml', nodeYaml('node-a', 'bad zone!')]]), { nodeName: 'node-a' });
    assert.deepEqual(bad.problems.map(formatProblem), [
      'n.yaml: Node node-a: metadata.labels["topology.kubernetes.io/zone"]: not a label value: "bad zone!"',
    ]);
    assert.equal(bad.node, undefined);
    const twice = loadManifests(
      new Map([
        ['a.yaml', nodeYaml('node-a', 'zone-a')],
        ['b.yaml', nodeYaml('node-a', 'zone-b')],
      ]),
      { nodeName: 'node-a' },
    );
    assert.deepEqual(twice.problems.map(formatProblem), [
      'b.yaml: Node node-a: also defined in a.yaml: this definition is ignored',
    ]);
    assert.equal(twice.node?.zone, 'zone-a');
  });

  it('keeps the last good Node of a file whose Node becomes invalid', () => {
    const good = parseManifestFile('n.yaml', nodeYaml('node-a', 'zone-a'), { nodeName: 'node-a' });
    const bad = parseManifestFile('n.yaml', nodeYaml('node-a', 'zone-a', 'x'), { nodeName: 'node-a' });
    assert.ok(good.ok && bad.ok);
    const [entry] = keepLastGood(good.entries, bad.entries);
    assert.equal(entry?.status, 'invalid');
    assert.equal(entry?.node?.zone, 'zone-a');
  });
});
