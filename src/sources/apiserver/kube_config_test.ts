import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KubeConfigError, loadKubeConfig } from './kube_config.ts';
import { NodeLookupError, readNodeAddresses } from './read_node_addresses.ts';
import { FakeApiServer } from './testing/fake_apiserver.ts';
import { node } from './testing/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'kpt-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('loadKubeConfig', () => {
  it('loads a kubeconfig file with its server and credentials', () => {
    const path = join(dir, 'a.kubeconfig');
    writeFileSync(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://198.18.0.1:6443' } }],
        users: [{ name: 'u', user: { token: 'abc' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const kc = loadKubeConfig({ kubeconfigPath: path, env: {} });
    assert.equal(kc.getCurrentCluster()?.server, 'https://198.18.0.1:6443');
    assert.equal(kc.getCurrentUser()?.token, 'abc');

    const overridden = loadKubeConfig({ kubeconfigPath: path, master: 'https://198.18.0.2:6443/', env: {} });
    assert.equal(
      overridden.getCurrentCluster()?.server,
      'https://198.18.0.2:6443',
      '--master overrides the server',
    );
    assert.equal(overridden.getCurrentUser()?.token, 'abc', 'and keeps the credentials');
  });

  it('uses --master alone, without credentials', () => {
    const kc = loadKubeConfig({ master: 'http://127.0.0.1:8001', env: {} });
    assert.equal(kc.getCurrentCluster()?.server, 'http://127.0.0.1:8001');
    assert.equal(kc.getCurrentCluster()?.skipTLSVerify, true, 'plain HTTP (kubectl proxy) is allowed');
    assert.equal(
      loadKubeConfig({ master: 'https://198.18.0.1', env: {} }).getCurrentCluster()?.skipTLSVerify,
      false,
    );
  });

  it('uses the in-cluster service account when nothing is given inside a pod', () => {
    const sa = join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'sa-token');
    writeFileSync(join(sa, 'ca.crt'), '');
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = '198.19.0.1';
    process.env.KUBERNETES_SERVICE_PORT = '443';
    try {
      const kc = loadKubeConfig({ env: process.env, inClusterPathPrefix: dir });
      assert.equal(kc.getCurrentCluster()?.server, 'https://198.19.0.1:443');
      assert.equal(kc.getCurrentCluster()?.caFile, join(sa, 'ca.crt'));
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
  });

  it('fails with a clear error for a missing file, a bad URL, or nothing at all', () => {
    assert.throws(
      () => loadKubeConfig({ kubeconfigPath: join(dir, 'missing'), env: {} }),
      (e: unknown) =>
        e instanceof KubeConfigError &&
        e.code === 'KPROXY_KUBECONFIG' &&
        /^Cannot load kubeconfig .*missing: /.test(e.message),
    );
    assert.throws(
      () => loadKubeConfig({ master: 'ftp://x', env: {} }),
      /Invalid --master URL: "ftp:\/\/x" is not http\(s\)/,
    );
    assert.throws(() => loadKubeConfig({ master: 'not a url', env: {} }), KubeConfigError);
    assert.throws(() => loadKubeConfig({ env: {} }), /No API server: give --kubeconfig FILE or --master URL/);
  });
});

describe('readNodeAddresses', () => {
  it('reads the node once through the kubeconfig, with a list by name', async (t) => {
    const api = await FakeApiServer.start({ token: 'kpt-token' });
    t.after(() => api.close());
    api.upsert('nodes', node('node-1', ['198.18.0.5', 'fd00::5']));
    const kubeconfigPath = api.writeKubeconfig(dir);
    assert.deepEqual(await readNodeAddresses({ kubeconfigPath, nodeName: 'node-1', env: {} }), [
      '198.18.0.5',
      'fd00::5',
    ]);
    assert.deepEqual(
      [api.requests.at(-1)?.path, api.requests.at(-1)?.query.fieldSelector],
      ['/api/v1/nodes', 'metadata.name=node-1'],
    );
    await assert.rejects(
      readNodeAddresses({ kubeconfigPath, nodeName: 'node-9', env: {} }),
      (e: unknown) => e instanceof NodeLookupError && e.message === 'Cannot read node node-9: no such node',
    );
    api.failRequests(403);
    await assert.rejects(
      readNodeAddresses({ kubeconfigPath, nodeName: 'node-1', env: {} }),
      (e: unknown) =>
        e instanceof NodeLookupError &&
        e.code === 'KPROXY_NODE_LOOKUP' &&
        e.message === 'Cannot read node node-1: HTTP 403: Injected failure',
    );
  });
});
