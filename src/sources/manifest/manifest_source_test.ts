import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { formatProblem } from '../../model/problem.ts';
import type { ProxySource, SourceEvent } from '../source.ts';
import { createManifestSource, type ManifestSourceOptions } from './manifest_source.ts';

/** Changes must be applied within this long (the feature's promise), with watching or the poll. */
const WITHIN_MS = 1000;

function service(name: string, clusterIP: string, port = 80): string {
  return `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: shop}\nspec: {clusterIP: ${clusterIP}, ports: [{port: ${port}}]}\n`;
}

/** Collects a source's events and waits for the ones a test expects, with a deadline. */
class EventLog {
  readonly events: SourceEvent[] = [];
  #wake: (() => void) | undefined;
  readonly sink = (event: SourceEvent): void => {
    this.events.push(event);
    this.#wake?.();
  };

  /** Events from index `from` on, once `done` holds for them; rejects after `timeoutMs`. */
  async waitFor(
    from: number,
    done: (events: SourceEvent[]) => boolean,
    timeoutMs = WITHIN_MS,
  ): Promise<SourceEvent[]> {
    const deadline = AbortSignal.timeout(timeoutMs);
    while (!done(this.events.slice(from))) {
      if (deadline.aborted) {
        assert.fail(
          `Timed out after ${timeoutMs} ms; events: ${JSON.stringify(this.events.slice(from).map(summary))}`,
        );
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 20);
      });
    }
    return this.events.slice(from);
  }
}

/** `add Service/shop/web`, `problem a.yaml: ...`, `synced`: what a test compares. */
function summary(event: SourceEvent): string {
  switch (event.type) {
    case 'add':
    case 'update':
      return `${event.type} ${event.object.kind}/${event.object.spec.namespace}/${event.object.spec.name}`;
    case 'delete':
      return `delete ${event.ref.kind}/${event.ref.namespace}/${event.ref.name}`;
    case 'synced':
      return 'synced';
    case 'problem':
      return `problem ${formatProblem(event.problem)}`;
    default: {
      const never: never = event;
      return String(never);
    }
  }
}

const has = (line: string) => (events: SourceEvent[]) => events.map(summary).includes(line);
const hasPrefix = (prefix: string) => (events: SourceEvent[]) =>
  events.some((e) => summary(e).startsWith(prefix));

describe('createManifestSource', () => {
  const sources: ProxySource[] = [];
  const dirs: string[] = [];
  let now = 1_000;

  async function startIn(
    files: Record<string, string>,
    path = '',
    options: ManifestSourceOptions = {},
  ): Promise<{ dir: string; log: EventLog }> {
    const dir = await mkdtemp(join(tmpdir(), 'kproxy-manifests-'));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) {
      await mkdir(join(dir, name, '..'), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    const log = new EventLog();
    const source = createManifestSource(join(dir, path), { clock: () => now, ...options });
    sources.push(source);
    await source.start(log.sink);
    await log.waitFor(0, has('synced'));
    return { dir, log };
  }

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((source) => source.stop()));
  });
  after(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('emits every object of the initial files, then synced, stamped with the clock', async () => {
    now = 5_000;
    const { log } = await startIn({
      'a.yaml': service('web', '10.96.0.1'),
      'sub/b.yml': service('api', '10.96.0.2'),
    });
    assert.deepEqual(log.events.map(summary), ['add Service/shop/api', 'add Service/shop/web', 'synced']);
    assert.ok(log.events.every((e) => e.type !== 'add' || e.at === 5_000));
  });

  it('ignores dotfiles, dot-directories and other extensions', async () => {
    const { log } = await startIn({
      '.web.yaml': service('hidden', '10.96.0.3'),
      '.git/x.yaml': service('git', '10.96.0.4'),
      'notes.txt': service('text', '10.96.0.5'),
      'web.yaml': service('web', '10.96.0.1'),
    });
    assert.deepEqual(log.events.map(summary), ['add Service/shop/web', 'synced']);
  });

  it('serves a single file given as the path', async () => {
    const { log } = await startIn(
      { 'web.yaml': service('web', '10.96.0.1'), 'other.yaml': service('x', '10.96.0.9') },
      'web.yaml',
    );
    assert.deepEqual(log.events.map(summary), ['add Service/shop/web', 'synced']);
  });

  it('adds the objects of a new file, stamped when the change was noticed', async () => {
    const { dir, log } = await startIn({});
    now = 7_000;
    const from = log.events.length;
    await writeFile(join(dir, 'web.yaml'), service('web', '10.96.0.1'));
    const [event] = await log.waitFor(from, has('add Service/shop/web'));
    assert.equal(event?.type === 'add' ? event.at : undefined, 7_000);
  });

  it('updates an edited object, and only that one', async () => {
    const { dir, log } = await startIn({
      'web.yaml': `${service('web', '10.96.0.1')}---\n${service('api', '10.96.0.2')}`,
    });
    const from = log.events.length;
    await writeFile(
      join(dir, 'web.yaml'),
      `${service('web', '10.96.0.1', 8080)}---\n${service('api', '10.96.0.2')}`,
    );
    const events = await log.waitFor(from, has('update Service/shop/web'));
    assert.deepEqual(events.map(summary), ['update Service/shop/web']);
    const update = events[0];
    assert.equal(
      update?.type === 'update' && update.object.kind === 'Service' ? update.object.spec.ports[0]?.port : 0,
      8080,
    );
  });

  it('keeps the last good objects of a file with a YAML error, and updates them once it is fixed', async () => {
    const { dir, log } = await startIn({ 'web.yaml': service('web', '10.96.0.1') });
    let from = log.events.length;
    await writeFile(join(dir, 'web.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: [web\n');
    const broken = await log.waitFor(from, hasPrefix('problem web.yaml: ?: line 4, column 1: '));
    assert.deepEqual(
      broken.filter((e) => e.type !== 'problem'),
      [],
      'no delete while the file cannot be parsed',
    );
    from = log.events.length;
    await writeFile(join(dir, 'web.yaml'), service('web', '10.96.0.1', 8080));
    const fixed = await log.waitFor(from, has('update Service/shop/web'));
    assert.deepEqual(fixed.map(summary), ['update Service/shop/web']);
  });

  it('keeps the last good version of an object that becomes invalid, reporting why', async () => {
    const { dir, log } = await startIn({
      'web.yaml': `${service('web', '10.96.0.1')}---\n${service('api', '10.96.0.2')}`,
    });
    const from = log.events.length;
    await writeFile(
      join(dir, 'web.yaml'),
      `${service('web', '10.96.0.1', 70000)}---\n${service('api', '10.96.0.2', 81)}`,
    );
    const events = await log.waitFor(from, (e) => e.length >= 2);
    assert.deepEqual(events.map(summary), [
      'problem web.yaml: Service shop/web: spec.ports[0].port: must be 1-65535, got 70000',
      'update Service/shop/api',
    ]);
  });

  it('deletes the objects of a removed file', async () => {
    const { dir, log } = await startIn({
      'web.yaml': service('web', '10.96.0.1'),
      'api.yaml': service('api', '10.96.0.2'),
    });
    const from = log.events.length;
    await rm(join(dir, 'web.yaml'));
    const events = await log.waitFor(from, has('delete Service/shop/web'));
    assert.deepEqual(events.map(summary), ['delete Service/shop/web']);
  });

  it('follows an editor that saves by renaming a new file over the old one', async () => {
    const { dir, log } = await startIn({ 'web.yaml': service('web', '10.96.0.1') });
    const from = log.events.length;
    await writeFile(join(dir, '.web.yaml.swp'), service('web', '10.96.0.1', 8443));
    await rename(join(dir, '.web.yaml.swp'), join(dir, 'web.yaml'));
    const events = await log.waitFor(from, has('update Service/shop/web'));
    assert.deepEqual(events.map(summary), ['update Service/shop/web']);
  });

  it('emits nothing for a file saved again unchanged', async () => {
    const { dir, log } = await startIn({ 'web.yaml': service('web', '10.96.0.1') });
    const from = log.events.length;
    await writeFile(join(dir, 'web.yaml'), service('web', '10.96.0.1'));
    await writeFile(join(dir, 'api.yaml'), service('api', '10.96.0.2')); // a marker: its add comes after
    const events = await log.waitFor(from, has('add Service/shop/api'));
    assert.deepEqual(events.map(summary), ['add Service/shop/api']);
  });

  it('notices changes through file watching, without waiting for the poll', async () => {
    const { dir, log } = await startIn({}, '', { pollIntervalMs: 60_000 });
    const from = log.events.length;
    await writeFile(join(dir, 'web.yaml'), service('web', '10.96.0.1'));
    await log.waitFor(from, has('add Service/shop/web'));
  });

  it('finds files in a directory created after the start', async () => {
    const { dir, log } = await startIn({});
    const from = log.events.length;
    await mkdir(join(dir, 'team/new'), { recursive: true });
    await writeFile(
      join(dir, 'team/new/web.json'),
      JSON.stringify(JSON.parse(JSON.stringify(serviceObject()))),
    );
    await log.waitFor(from, has('add Service/shop/web'));
  });

  it('reports duplicates across files and serves the first file’s definition', async () => {
    const { dir, log } = await startIn({ 'a.yaml': service('web', '10.96.0.1') });
    const from = log.events.length;
    await writeFile(join(dir, 'b.yaml'), service('web', '10.96.0.2'));
    const events = await log.waitFor(from, hasPrefix('problem b.yaml'));
    assert.deepEqual(events.map(summary), [
      'problem b.yaml: Service shop/web: also defined in a.yaml: this definition is ignored',
    ]);
  });

  it('starts on a missing path with a problem, and serves it once it appears', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'kproxy-manifests-'));
    dirs.push(parent);
    const log = new EventLog();
    const missing = join(parent, 'later');
    const source = createManifestSource(missing, { clock: () => now, pollIntervalMs: 100 });
    sources.push(source);
    await source.start(log.sink);
    const first = await log.waitFor(0, has('synced'));
    assert.deepEqual(first.map(summary), [`problem ${missing}: ?: does not exist`, 'synced']);
    await mkdir(missing);
    await writeFile(join(missing, 'web.yaml'), service('web', '10.96.0.1'));
    await log.waitFor(first.length, has('add Service/shop/web'));
  });

  it('delivers this node’s Node before synced, then its changes and its removal', async () => {
    const node = (zone: string) =>
      `apiVersion: v1\nkind: Node\nmetadata: {name: node-a, labels: {topology.kubernetes.io/zone: ${zone}}}\n` +
      `status: {addresses: [{type: InternalIP, address: 198.18.0.1}]}\n`;
    const dir = await mkdtemp(join(tmpdir(), 'kproxy-manifests-'));
    dirs.push(dir);
    await writeFile(join(dir, 'node.yaml'), node('zone-a'));
    await writeFile(join(dir, 'web.yaml'), service('web', '10.96.0.1'));
    const log = new EventLog();
    const order: string[] = [];
    const source = createManifestSource(dir, { clock: () => now, nodeName: 'node-a' });
    sources.push(source);
    await source.start(
      (event) => {
        order.push(event.type);
        log.sink(event);
      },
      {
        onNode: (event) => {
          order.push(event.type === 'node' ? `node ${event.node.zone}` : `nodeDeleted ${event.name}`);
          log.sink({ type: 'synced' }); // wakes the waiter; the order above is what is checked
        },
      },
    );
    await log.waitFor(0, () => order.includes('synced'));
    assert.deepEqual(order, ['node zone-a', 'add', 'synced']);
    await writeFile(join(dir, 'node.yaml'), node('zone-b'));
    await log.waitFor(0, () => order.includes('node zone-b'));
    await writeFile(join(dir, 'node.yaml'), node('"bad zone!"'));
    await log.waitFor(0, () => order.filter((o) => o === 'problem').length === 1);
    await rm(join(dir, 'node.yaml'));
    await log.waitFor(0, () => order.includes('nodeDeleted node-a'));
    assert.deepEqual(order.slice(3), ['node zone-b', 'problem', 'nodeDeleted node-a']);
  });

  it('delivers nothing after stop', async () => {
    // A short poll interval: had the source gone on, the poll would have seen the new file within the wait.
    const { dir, log } = await startIn({}, '', { pollIntervalMs: 50 });
    await sources.pop()?.stop();
    const from = log.events.length;
    await writeFile(join(dir, 'web.yaml'), service('web', '10.96.0.1'));
    await assert.rejects(
      log.waitFor(from, (e) => e.length > 0, 300),
      /Timed out/,
    );
  });
});

function serviceObject(): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { clusterIP: '10.96.0.1', ports: [{ port: 80 }] },
  };
}
