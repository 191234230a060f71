/**
 * The deployment manifests under deploy/ checked against the code they deploy: the ClusterRole grants
 * exactly what the source is seen to request from a (fake) API server, and the DaemonSet runs kproxy
 * the way kube-proxy runs (host network, privileged, xtables lock, modules, node name) with flags the
 * CLI knows.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1DaemonSet,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { buildProgram } from '../cli/main.ts';
import { createApiServerSource } from '../sources/apiserver/api_server_source.ts';
import { FakeApiServer, type FakeRequest } from '../sources/apiserver/testing/fake_apiserver.ts';
import { endpointSlice, endpoints, node, service } from '../sources/apiserver/testing/fixtures.ts';
import { captureLogs } from '../sources/apiserver/testing/log_capture.ts';
import { waitFor } from '../sources/apiserver/testing/wait_for.ts';

const deployDir = join(import.meta.dirname, '..', '..', 'deploy');

function load(file: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(join(deployDir, file), 'utf8')).map(
    (d) => d.toJS() as Record<string, unknown>,
  );
}

function ofKind<T>(docs: Record<string, unknown>[], kind: string): T {
  const found = docs.find((d) => d.kind === kind);
  assert.ok(found, `no ${kind} in the manifests`);
  return found as T;
}

const GROUP_OF: Readonly<Record<string, string>> = {
  services: '',
  endpoints: '',
  nodes: '',
  endpointslices: 'discovery.k8s.io',
  events: 'events.k8s.io',
};

/** The RBAC permission (group/resource:verb) a request to the fake needs. */
function permission(r: FakeRequest): string | undefined {
  if (r.resource === undefined) return undefined; // discovery: allowed to every authenticated user
  const verb = r.method === 'POST' ? 'create' : r.watch ? 'watch' : 'list';
  return `${GROUP_OF[r.resource]}/${r.resource}:${verb}`;
}

const dir = mkdtempSync(join(tmpdir(), 'kpt-deploy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the source against a fake until synced and an Event was posted; returns the permissions used. */
async function permissionsUsed(endpointSlices: boolean): Promise<Set<string>> {
  const api = await FakeApiServer.start({ endpointSlices });
  try {
    api.upsert('services', service('default', 'web'));
    api.upsert('services', service('default', 'bad', { port: 0 }));
    api.upsert('endpointslices', endpointSlice('default', 'web-1', 'web'));
    api.upsert('endpoints', endpoints('default', 'web'));
    api.upsert('nodes', node('node-1', ['198.18.0.5']));
    const source = createApiServerSource({
      kubeconfigPath: api.writeKubeconfig(dir),
      nodeName: 'node-1',
      logger: captureLogs().logger,
    });
    await source.start(() => {});
    await waitFor(
      'synced, watching, event posted',
      () => source.synced && api.openWatches === 3 && api.objects('events').length === 1,
    );
    await source.stop();
    return new Set(api.requests.map(permission).filter((p) => p !== undefined));
  } finally {
    await api.close();
  }
}

describe('deploy/rbac.yaml', () => {
  const docs = load('rbac.yaml');
  const role = ofKind<V1ClusterRole>(docs, 'ClusterRole');
  const granted = new Set<string>();
  for (const rule of role.rules ?? []) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const verb of rule.verbs) granted.add(`${group}/${resource}:${verb}`);
      }
    }
  }

  it('grants every request the source makes, with EndpointSlices or legacy Endpoints', async () => {
    const used = new Set([...(await permissionsUsed(true)), ...(await permissionsUsed(false))]);
    assert.deepEqual(
      [...used].filter((p) => !granted.has(p)),
      [],
    );
    // Exactly what the issue allows: list/watch on what is proxied, create/patch on events.
    assert.deepEqual([...granted].sort(), [
      '/endpoints:list',
      '/endpoints:watch',
      '/nodes:list',
      '/nodes:watch',
      '/services:list',
      '/services:watch',
      'discovery.k8s.io/endpointslices:list',
      'discovery.k8s.io/endpointslices:watch',
      'events.k8s.io/events:create',
      'events.k8s.io/events:patch',
    ]);
    assert.deepEqual(
      [...granted].filter((p) => !used.has(p)),
      ['events.k8s.io/events:patch'],
      'nothing is granted that is not used (patch is for event series)',
    );
  });

  it('binds the role to the service account the DaemonSet runs as', () => {
    const account = ofKind<V1ServiceAccount>(docs, 'ServiceAccount');
    const binding = ofKind<V1ClusterRoleBinding>(docs, 'ClusterRoleBinding');
    const daemonSet = ofKind<V1DaemonSet>(load('daemonset.yaml'), 'DaemonSet');
    assert.equal(binding.roleRef.name, role.metadata?.name);
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: account.metadata?.name, namespace: account.metadata?.namespace },
    ]);
    assert.equal(daemonSet.spec?.template.spec?.serviceAccountName, account.metadata?.name);
    assert.equal(daemonSet.metadata?.namespace, account.metadata?.namespace);
  });
});

describe('deploy/daemonset.yaml', () => {
  const daemonSet = ofKind<V1DaemonSet>(load('daemonset.yaml'), 'DaemonSet');
  const pod = daemonSet.spec?.template.spec;
  const container = pod?.containers[0];

  it('runs like kube-proxy: host network, privileged, xtables lock, modules, every taint tolerated', () => {
    assert.equal(pod?.hostNetwork, true);
    assert.equal(container?.securityContext?.privileged, true);
    assert.deepEqual(pod?.tolerations, [{ operator: 'Exists' }]);
    assert.equal(pod?.priorityClassName, 'system-node-critical');
    const mounts = Object.fromEntries((container?.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const volumes = Object.fromEntries((pod?.volumes ?? []).map((v) => [v.name, v]));
    assert.equal(volumes[mounts['/run/xtables.lock']?.name ?? '']?.hostPath?.path, '/run/xtables.lock');
    assert.equal(volumes[mounts['/run/xtables.lock']?.name ?? '']?.hostPath?.type, 'FileOrCreate');
    assert.equal(volumes[mounts['/lib/modules']?.name ?? '']?.hostPath?.path, '/lib/modules');
    assert.equal(mounts['/lib/modules']?.readOnly, true);
  });

  it('passes the node name from the downward API as --hostname-override', () => {
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e]));
    assert.equal(env.NODE_NAME?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    assert.ok(container?.command?.includes('--hostname-override=$(NODE_NAME)'));
    for (const arg of container?.command ?? []) {
      for (const [, name] of arg.matchAll(/\$\(([A-Z_]+)\)/g)) {
        assert.ok(env[name ?? ''], `${arg} refers to an undefined variable`);
      }
    }
    // In-cluster config reads these two; they point at the API server itself, not its ClusterIP.
    assert.equal(env.KUBERNETES_SERVICE_HOST?.valueFrom?.configMapKeyRef?.key, 'apiserver-host');
    assert.equal(env.KUBERNETES_SERVICE_PORT?.valueFrom?.configMapKeyRef?.key, 'apiserver-port');
  });

  it('uses only flags that `kproxy run` knows', () => {
    const run = buildProgram({ out: () => {}, err: () => {} }).commands.find((c) => c.name() === 'run');
    const known = new Set(run?.options.map((o) => o.long));
    const [binary, command, ...flags] = container?.command ?? [];
    assert.deepEqual([binary, command], ['kproxy', 'run']);
    for (const flag of flags) assert.ok(known.has(flag.split('=')[0]), `unknown flag ${flag}`);
    const probe = container?.readinessProbe?.httpGet;
    assert.ok(
      flags.includes(`--healthz-bind-address=0.0.0.0:${probe?.port}`),
      'the probe asks the health server',
    );
  });
});

describe('deploy/cleanup-daemonset.yaml and deploy/kind-cluster.yaml', () => {
  it('cleans up once per node with `kproxy cleanup`, privileged, on the host network', () => {
    const cleanup = ofKind<V1DaemonSet>(load('cleanup-daemonset.yaml'), 'DaemonSet');
    const init = cleanup.spec?.template.spec?.initContainers?.[0];
    assert.deepEqual(init?.command, ['kproxy', 'cleanup']);
    assert.equal(init?.securityContext?.privileged, true);
    assert.equal(cleanup.spec?.template.spec?.hostNetwork, true);
    const known = buildProgram({ out: () => {}, err: () => {} }).commands.map((c) => c.name());
    assert.ok(known.includes('cleanup'));
  });

  it('creates a kind cluster without kube-proxy', () => {
    const [config] = load('kind-cluster.yaml');
    assert.equal((config?.networking as { kubeProxyMode?: string } | undefined)?.kubeProxyMode, 'none');
  });
});

describe('deploy/daemonset-kubeadm.yaml', () => {
  const daemonSet = ofKind<V1DaemonSet>(load('daemonset-kubeadm.yaml'), 'DaemonSet');
  const plain = ofKind<V1DaemonSet>(load('daemonset.yaml'), 'DaemonSet');
  const pod = daemonSet.spec?.template.spec;
  const container = pod?.containers[0];

  it('runs as deploy/daemonset.yaml does: same account, host network, privileges, tolerations, lock and modules', () => {
    const plainPod = plain.spec?.template.spec;
    assert.equal(pod?.serviceAccountName, plainPod?.serviceAccountName);
    assert.equal(pod?.hostNetwork, true);
    assert.equal(container?.securityContext?.privileged, true);
    assert.deepEqual(pod?.tolerations, plainPod?.tolerations);
    assert.equal(pod?.priorityClassName, plainPod?.priorityClassName);
    const mounts = Object.fromEntries((container?.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const volumes = Object.fromEntries((pod?.volumes ?? []).map((v) => [v.name, v]));
    assert.equal(volumes[mounts['/run/xtables.lock']?.name ?? '']?.hostPath?.path, '/run/xtables.lock');
    assert.equal(volumes[mounts['/lib/modules']?.name ?? '']?.hostPath?.path, '/lib/modules');
  });

  it("reads kubeadm's kube-proxy ConfigMap where kube-proxy read it, with flags `kproxy run` knows", () => {
    const mounts = Object.fromEntries((container?.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const volumes = Object.fromEntries((pod?.volumes ?? []).map((v) => [v.name, v]));
    assert.equal(volumes[mounts['/var/lib/kube-proxy']?.name ?? '']?.configMap?.name, 'kube-proxy');
    const run = buildProgram({ out: () => {}, err: () => {} }).commands.find((c) => c.name() === 'run');
    const known = new Set(run?.options.map((o) => o.long));
    const [binary, command, ...flags] = container?.command ?? [];
    assert.deepEqual([binary, command], ['kproxy', 'run']);
    for (const flag of flags) assert.ok(known.has(flag.split('=')[0]), `unknown flag ${flag}`);
    assert.ok(flags.includes('--config=/var/lib/kube-proxy/config.conf'));
    assert.ok(flags.includes('--hostname-override=$(NODE_NAME)'));
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e]));
    assert.equal(env.NODE_NAME?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    // kubeadm's healthzBindAddress is 0.0.0.0:10256: the probe must ask that port.
    assert.equal(container?.readinessProbe?.httpGet?.port, 10256);
  });
});
