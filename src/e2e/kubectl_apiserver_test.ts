/**
 * A real Kubernetes client against the fake API server: kubectl (Debian's `kubernetes-client`, installed
 * by `npm run setup`) applies the demo's manifests, makes an endpoint not ready with `kubectl patch`,
 * changes a Service with a second `kubectl apply` (a three-way strategic merge patch), and deletes a
 * Service; kproxy's API server source, watching the same fake, follows each step. This checks that the
 * fake speaks what a real client expects (discovery, OpenAPI, creates, the patch formats, deletes and
 * the watch `kubectl delete` waits on), so that the source's tests against it mean something.
 *
 * Everything is on 127.0.0.1; every kubectl run is bounded (`--request-timeout`, a process timeout).
 * A missing kubectl skips the file with the kernel tests' skip line (a failure in CI).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { kernelTestSkip } from '../lab/kernel_tools.ts';
import type { EndpointSliceSpec, ServiceSpec } from '../model/types.ts';
import { type ApiServerSource, createApiServerSource } from '../sources/apiserver/api_server_source.ts';
import { FakeApiServer, type FakeRequest } from '../sources/apiserver/testing/fake_apiserver.ts';
import { captureLogs } from '../sources/apiserver/testing/log_capture.ts';
import { waitFor } from '../sources/apiserver/testing/wait_for.ts';
import type { ProxyObject, SourceEvent } from '../sources/source.ts';

const KUBECTL = process.env['KPROXY_TEST_KUBECTL'] ?? 'kubectl';
// Root is not needed (loopback only): the check is asked as root so that only a missing kubectl skips.
const skip = kernelTestSkip(import.meta.url, { tools: [KUBECTL] }, { uid: 0 });

const demoDir = join(import.meta.dirname, '..', '..', 'examples', 'demo');
const WAIT = { timeoutMs: 10_000 };

describe('kubectl against the fake API server', { skip }, () => {
  let api: FakeApiServer;
  let source: ApiServerSource;
  let dir: string;
  let kubeconfig: string;
  const events: SourceEvent[] = [];

  /** Runs kubectl against the fake; its own HOME keeps its discovery cache out of the real one. */
  async function kubectl(...args: string[]): Promise<string> {
    const run = promisify(execFile);
    try {
      const { stdout } = await run(KUBECTL, ['--kubeconfig', kubeconfig, '--request-timeout=5s', ...args], {
        timeout: 30_000,
        env: { PATH: process.env['PATH'] ?? '', HOME: dir },
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string };
      throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr ?? String(err)}\n${requestLog()}`, {
        cause: err,
      });
    }
  }

  /** What kubectl asked the fake for, one line per request: shown when a step fails. */
  function requestLog(requests: readonly FakeRequest[] = api.requests): string {
    return requests
      .filter((r) => !r.watch || r.query['fieldSelector'] !== undefined)
      .map((r) => `${r.method} ${r.path}?${new URLSearchParams(r.query)} [${r.contentType}]`)
      .join('\n');
  }

  /** The latest state the source gave of an object (undefined before its add or after its delete). */
  function latest(kind: 'Service' | 'EndpointSlice', name: string): ProxyObject | undefined {
    for (const e of events.toReversed()) {
      if (e.type === 'delete' && e.ref.kind === kind && e.ref.name === name) return undefined;
      if (
        (e.type === 'add' || e.type === 'update') &&
        e.object.kind === kind &&
        e.object.spec.name === name
      ) {
        return e.object;
      }
    }
    return undefined;
  }

  function lastService(name: string): ServiceSpec | undefined {
    const o = latest('Service', name);
    return o?.kind === 'Service' ? o.spec : undefined;
  }

  function lastSlice(name: string): EndpointSliceSpec | undefined {
    const o = latest('EndpointSlice', name);
    return o?.kind === 'EndpointSlice' ? o.spec : undefined;
  }

  before(async () => {
    // No token: kubectl does not send a bearer token over plain HTTP, and the fake has no TLS.
    api = await FakeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'kpt-kubectl-'));
    kubeconfig = api.writeKubeconfig(dir);
    source = createApiServerSource({
      kubeconfigPath: kubeconfig,
      nodeName: 'demo-node',
      logger: captureLogs().logger,
      tuning: {
        backoff: { initialMs: 20, maxMs: 160, factor: 2, jitter: 0 },
        watchTimeoutSeconds: 30,
        requestDeadlineMs: 2000,
      },
    });
    await source.start((e) => events.push(e));
    await waitFor('the source synced', () => events.some((e) => e.type === 'synced'), WAIT);
  });

  after(async () => {
    await source?.stop();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('kubectl apply creates the demo Services and EndpointSlices; the source adds them', async () => {
    const out = await kubectl(
      'apply',
      '-f',
      join(demoDir, 'services.yaml'),
      '-f',
      join(demoDir, 'endpointslices.yaml'),
    );
    assert.match(out, /service\/hello created/);
    assert.match(out, /endpointslice.discovery.k8s.io\/echo-1 created/);
    await waitFor(
      'three Services and three EndpointSlices',
      () => ['hello', 'sticky', 'echo'].every((n) => lastService(n) && lastSlice(`${n}-1`)),
      WAIT,
    );
    assert.deepEqual(lastService('hello')?.clusterIPs, ['127.0.0.100']);
    assert.deepEqual(
      lastSlice('hello-1')?.endpoints.map((e) => e.ready),
      [true, true, true],
    );
    const creates = api.requests.filter((r) => r.method === 'POST');
    assert.equal(creates.length, 6, requestLog());
    assert.ok(
      creates.every((r) => r.contentType.startsWith('application/json')),
      requestLog(creates),
    );
  });

  it('kubectl patch makes an endpoint not ready; the source updates the slice', async () => {
    const patch = '[{"op":"replace","path":"/endpoints/0/conditions/ready","value":false}]';
    await kubectl('patch', '-n', 'demo', 'endpointslice', 'hello-1', '--type=json', '-p', patch);
    await waitFor(
      'hello-1 with 127.0.0.11 not ready',
      () => lastSlice('hello-1')?.endpoints[0]?.ready === false,
      WAIT,
    );
    assert.deepEqual(
      lastSlice('hello-1')?.endpoints.map((e) => [e.addresses[0], e.ready]),
      [
        ['127.0.0.11', false],
        ['127.0.0.12', true],
        ['127.0.0.13', true],
      ],
    );
    // A merge patch sets it back: the other patch format kubectl patch sends for a built-in type.
    const merge = { endpoints: DEMO_HELLO_ENDPOINTS };
    await kubectl(
      'patch',
      '-n',
      'demo',
      'endpointslice',
      'hello-1',
      '--type=merge',
      '-p',
      JSON.stringify(merge),
    );
    await waitFor('hello-1 ready again', () => lastSlice('hello-1')?.endpoints[0]?.ready === true, WAIT);
  });

  it('kubectl annotate sets the last-change-trigger-time; the source carries it, or reports a bad one', async () => {
    const key = 'endpoints.kubernetes.io/last-change-trigger-time';
    await kubectl('annotate', '-n', 'demo', 'endpointslice', 'hello-1', `${key}=2025-01-02T03:04:05.25Z`);
    const at = Date.UTC(2025, 0, 2, 3, 4, 5, 250);
    await waitFor(
      'hello-1 with its trigger time',
      () => lastSlice('hello-1')?.lastChangeTriggerTime === at,
      WAIT,
    );
    await kubectl('annotate', '-n', 'demo', 'endpointslice', 'hello-1', '--overwrite', `${key}=soon`);
    await waitFor(
      'a problem naming the annotation',
      () => events.some((e) => e.type === 'problem' && e.problem.field.includes(key)),
      WAIT,
    );
    await waitFor(
      'hello-1 kept without it',
      () => lastSlice('hello-1')?.lastChangeTriggerTime === undefined,
      WAIT,
    );
  });

  it('a second kubectl apply sends a strategic merge patch; the source sees the new port', async () => {
    const changed = readFileSync(join(demoDir, 'services.yaml'), 'utf8').replace('port: 8080', 'port: 8081');
    const file = join(dir, 'services.yaml');
    writeFileSync(file, changed);
    const out = await kubectl('apply', '-f', file);
    assert.match(out, /service\/hello configured/);
    assert.match(out, /service\/sticky unchanged/);
    await waitFor('hello on port 8081', () => lastService('hello')?.ports[0]?.port === 8081, WAIT);
    const patches = api.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/services/hello'));
    assert.deepEqual(
      patches.map((r) => r.contentType),
      ['application/strategic-merge-patch+json'],
    );
    assert.equal(lastService('hello')?.ports.length, 1);
  });

  it('kubectl delete removes a Service; the source deletes it', async () => {
    const out = await kubectl('delete', '-n', 'demo', 'service', 'echo', '--timeout=10s');
    assert.match(out, /service "echo" deleted/);
    await waitFor(
      'echo deleted',
      () => events.some((e) => e.type === 'delete' && e.ref.kind === 'Service' && e.ref.name === 'echo'),
      WAIT,
    );
    assert.deepEqual(
      api
        .objects('services')
        .map((o) => o.metadata.name)
        .sort(),
      ['hello', 'sticky'],
    );
  });
});

/** The endpoints of hello-1 as examples/demo/endpointslices.yaml writes them (all ready). */
const DEMO_HELLO_ENDPOINTS = ['127.0.0.11', '127.0.0.12', '127.0.0.13'].map((ip) => ({
  addresses: [ip],
  conditions: { ready: true },
  nodeName: 'demo-node',
}));
