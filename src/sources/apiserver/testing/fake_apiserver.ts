/**
 * An in-process Kubernetes API server for tests: real HTTP on 127.0.0.1, speaking the list/watch wire
 * protocol as kube-apiserver does, with knobs to break it the ways a real one breaks.
 *
 * What it serves (JSON only):
 * - `GET {prefix}/{plural}` and `GET {prefix}/namespaces/{ns}/{plural}`: lists with a `resourceVersion`,
 *   `limit`/`continue` pagination over a consistent snapshot, label and field selectors; items carry no
 *   `kind`/`apiVersion` (as the real server sends them).
 * - the same with `?watch=true`: a chunked stream of newline-delimited `{"type","object"}` events from
 *   `resourceVersion` on (synthetic ADDED events when it is unset or "0"), `BOOKMARK`s when
 *   `allowWatchBookmarks=true`, objects that stop/start matching a selector sent as DELETED/ADDED,
 *   the stream ended after `timeoutSeconds`; a watch from a compacted version gets `ERROR` + Status 410
 *   (or an HTTP 410, see {@link FakeApiServerOptions.goneAs}).
 * - `GET .../{plural}/{name}`; discovery and an OpenAPI document (see ./discovery.ts) for clients that
 *   discover first (kubectl);
 * - writes as kubectl sends them: `POST` (create; events.k8s.io/v1 Events are checked for the fields the
 *   real server requires), `PUT` (replace, with the resourceVersion precondition), `PATCH` in the three
 *   patch formats (see ./patch.ts; server-side apply is answered 415), and `DELETE`. Every write streams
 *   its watch event.
 *
 * Every request is kept in {@link FakeApiServer.requests} with its Accept and Content-Type, so that a
 * test can show what a client asked for.
 *
 * Faults: {@link FakeApiServer.down}/{@link FakeApiServer.up} (connection refused for a while),
 * {@link FakeApiServer.dropWatches} (sockets destroyed mid-stream), {@link FakeApiServer.expireWatches},
 * {@link FakeApiServer.compact}, {@link FakeApiServer.failRequests}, {@link FakeApiServer.stallWatches}.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { discoveryDocument, type FakeResource, RESOURCES, type ResourceInfo } from './discovery.ts';
import { applyPatch, PATCH_TYPES, type PatchType } from './patch.ts';
import { matchesFieldSelector, matchesLabelSelector, SelectorSyntaxError } from './selectors.ts';

export type { FakeResource } from './discovery.ts';

/** A stored object: any JSON object with `metadata.name` (and `metadata.namespace` when namespaced). */
export interface FakeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly resourceVersion?: string;
    readonly uid?: string;
    readonly [key: string]: unknown;
  };
  readonly [key: string]: unknown;
}

/** One request as the fake received it. */
export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly resource: FakeResource | undefined;
  readonly watch: boolean;
  /** `Date.now()` when it arrived. */
  readonly at: number;
  /** The Accept header ('' when absent). */
  readonly accept: string;
  /** The Content-Type header ('' when absent). */
  readonly contentType: string;
}

/** Options of {@link FakeApiServer.start}. */
export interface FakeApiServerOptions {
  /** When set, requests must carry `Authorization: Bearer <token>` (401 otherwise). */
  readonly token?: string | undefined;
  /** Whether discovery.k8s.io/v1 EndpointSlices are served (default true). */
  readonly endpointSlices?: boolean | undefined;
  /**
   * How a watch from a compacted resourceVersion is refused: `'event'` (200, then an ERROR event with a
   * 410 Status, as the watch cache does; the default) or `'status'` (an HTTP 410 response).
   */
  readonly goneAs?: 'event' | 'status' | undefined;
}

type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEntry {
  readonly rv: number;
  readonly resource: FakeResource;
  readonly type: WatchEventType;
  readonly object: FakeObject;
  readonly previous: FakeObject | undefined;
}

interface ActiveWatch {
  readonly resource: FakeResource;
  readonly namespace: string | undefined;
  readonly labelSelector: string;
  readonly fieldSelector: string;
  readonly bookmarks: boolean;
  readonly res: ServerResponse;
  readonly socket: Socket;
  readonly timer: NodeJS.Timeout | undefined;
}

interface ListSnapshot {
  readonly rv: number;
  readonly items: readonly FakeObject[];
}

function keyOf(o: FakeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/**
 * A fake kube-apiserver on 127.0.0.1:0.
 *
 * @example
 * const api = await FakeApiServer.start({ token: 't' });
 * api.upsert('services', service('default', 'web'));
 * const kubeconfig = api.writeKubeconfig(dir);
 * // ... point the client at it ...
 * await api.close();
 */
export class FakeApiServer {
  readonly #server: Server;
  readonly #options: FakeApiServerOptions;
  readonly #objects = new Map<FakeResource, Map<string, FakeObject>>();
  readonly #history: HistoryEntry[] = [];
  readonly #watches = new Set<ActiveWatch>();
  readonly #sockets = new Set<Socket>();
  readonly #snapshots = new Map<string, ListSnapshot>();
  readonly #requests: FakeRequest[] = [];
  #rv = 100;
  /** Watches and continue tokens from a resourceVersion below this are gone (410). */
  #oldestRv = 0;
  #port = 0;
  #up = false;
  #failStatus: number | undefined;
  #failResource: FakeResource | undefined;
  #stall = false;
  #endpointSlices: boolean;

  private constructor(options: FakeApiServerOptions) {
    this.#options = options;
    this.#endpointSlices = options.endpointSlices ?? true;
    for (const r of Object.keys(RESOURCES) as FakeResource[]) this.#objects.set(r, new Map());
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /**
   * Starts a fake on a free port of 127.0.0.1.
   *
   * @param options auth, served groups, how 410 is sent
   * @returns the running fake
   */
  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const fake = new FakeApiServer(options);
    await fake.up();
    return fake;
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** Every request received so far, oldest first. */
  get requests(): readonly FakeRequest[] {
    return this.#requests;
  }

  /** Watch streams open right now. */
  get openWatches(): number {
    return this.#watches.size;
  }

  /**
   * A kubeconfig (JSON, which is YAML) for this fake: its URL, the token if any, and
   * `insecure-skip-tls-verify` (the fake speaks plain HTTP, which the client only allows with it).
   *
   * @returns the kubeconfig text
   */
  kubeconfig(): string {
    const user = this.#options.token === undefined ? {} : { token: this.#options.token };
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
      'current-context': 'fake',
    });
  }

  /**
   * Writes {@link kubeconfig} to `dir/kubeconfig`.
   *
   * @param dir an existing directory
   * @returns the file's path
   */
  writeKubeconfig(dir: string): string {
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, this.kubeconfig());
    return path;
  }

  /** Starts (or restarts, on the same port) listening. */
  async up(): Promise<void> {
    if (this.#up) return;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#up = true;
  }

  /** Stops listening and destroys every connection: clients get resets, then connection refused. */
  async down(): Promise<void> {
    if (!this.#up) return;
    this.#up = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const w of this.#watches) this.#endWatch(w);
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  /** Shuts the fake down for good. */
  async close(): Promise<void> {
    await this.down();
  }

  /**
   * While set, every request (or every request for `resource`) is answered with this HTTP status and a
   * Status body.
   *
   * @param code the status, or undefined to stop failing
   * @param resource only requests for this resource fail (default: all requests)
   */
  failRequests(code: number | undefined, resource?: FakeResource): void {
    this.#failStatus = code;
    this.#failResource = resource;
  }

  /**
   * While set, a new watch gets its 200 and headers and then nothing, ever: the server neither sends
   * nor closes, as a half-open connection looks to the client.
   */
  stallWatches(stall: boolean): void {
    this.#stall = stall;
  }

  /** Serves (or stops serving) discovery.k8s.io/v1, as an old or a new cluster would. */
  serveEndpointSlices(served: boolean): void {
    this.#endpointSlices = served;
  }

  /**
   * Creates or replaces an object (bumping the resourceVersion; `uid` kept across updates) and streams
   * ADDED or MODIFIED to the matching watches.
   *
   * @param resource where it lives
   * @param object the object; `apiVersion`/`kind` are filled in
   * @returns the stored object, with its new resourceVersion
   */
  upsert(resource: FakeResource, object: FakeObject): FakeObject {
    const info = RESOURCES[resource];
    const store = this.#store(resource);
    const key = keyOf(object);
    const previous = store.get(key);
    const rv = ++this.#rv;
    const stored: FakeObject = {
      ...object,
      apiVersion: info.apiVersion,
      kind: info.kind,
      metadata: {
        ...object.metadata,
        uid: previous?.metadata.uid ?? object.metadata.uid ?? randomUUID(),
        resourceVersion: String(rv),
        creationTimestamp: '2025-01-01T00:00:00Z',
      },
    };
    store.set(key, stored);
    this.#record({ rv, resource, type: previous ? 'MODIFIED' : 'ADDED', object: stored, previous });
    return stored;
  }

  /**
   * Deletes an object and streams DELETED (with the last state and a new resourceVersion).
   *
   * @returns true when it existed
   */
  remove(resource: FakeResource, namespace: string | undefined, name: string): boolean {
    const store = this.#store(resource);
    const key = `${namespace ?? ''}/${name}`;
    const previous = store.get(key);
    if (!previous) return false;
    store.delete(key);
    const rv = ++this.#rv;
    const object: FakeObject = {
      ...previous,
      metadata: { ...previous.metadata, resourceVersion: String(rv) },
    };
    this.#record({ rv, resource, type: 'DELETED', object, previous });
    return true;
  }

  /** The objects stored for a resource (e.g. the Events a client created). */
  objects(resource: FakeResource): FakeObject[] {
    return [...this.#store(resource).values()];
  }

  /**
   * Forgets the history up to now, as etcd compaction does: a watch or a `continue` from an older
   * resourceVersion is answered with 410 Gone. Open watches are not affected.
   */
  compact(): void {
    this.#oldestRv = this.#rv;
    this.#history.length = 0;
    this.#snapshots.clear();
  }

  /** Sends a BOOKMARK with the current resourceVersion on every watch that allowed bookmarks. */
  bookmark(): void {
    for (const w of this.#watches) {
      if (!w.bookmarks) continue;
      const info = RESOURCES[w.resource];
      const object = {
        kind: info.kind,
        apiVersion: info.apiVersion,
        metadata: { resourceVersion: String(this.#rv) },
      };
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
    }
  }

  /** Destroys the sockets of every open watch mid-stream (the chunked body never completes). */
  dropWatches(): void {
    for (const w of this.#watches) {
      this.#watches.delete(w);
      if (w.timer) clearTimeout(w.timer);
      w.socket.destroy();
    }
  }

  /** Sends ERROR with a 410 Status on every open watch and ends it, then {@link compact}s. */
  expireWatches(): void {
    this.compact();
    for (const w of this.#watches) {
      const object = status(410, 'Expired', `too old resource version: ${this.#rv}`);
      w.res.write(`${JSON.stringify({ type: 'ERROR', object })}\n`);
      this.#endWatch(w);
    }
  }

  /** The watch requests for a resource, oldest first. */
  watchRequests(resource: FakeResource): FakeRequest[] {
    return this.#requests.filter((r) => r.resource === resource && r.watch);
  }

  /** The list (non-watch GET) requests for a resource, oldest first. */
  listRequests(resource: FakeResource): FakeRequest[] {
    return this.#requests.filter((r) => r.resource === resource && !r.watch && r.method === 'GET');
  }

  #store(resource: FakeResource): Map<string, FakeObject> {
    const store = this.#objects.get(resource);
    if (!store) throw new Error(`Unknown resource: ${resource}`);
    return store;
  }

  #record(entry: HistoryEntry): void {
    this.#history.push(entry);
    for (const w of this.#watches) {
      if (w.resource === entry.resource) this.#sendChange(w, entry);
    }
  }

  #matches(w: Pick<ActiveWatch, 'namespace' | 'labelSelector' | 'fieldSelector'>, o: FakeObject): boolean {
    if (w.namespace !== undefined && o.metadata.namespace !== w.namespace) return false;
    return (
      matchesLabelSelector(w.labelSelector, o.metadata.labels ?? {}) &&
      matchesFieldSelector(w.fieldSelector, o)
    );
  }

  /** Sends a change as a watcher with selectors sees it: leaving the selection is a DELETED. */
  #sendChange(w: ActiveWatch, e: HistoryEntry): void {
    const now = e.type !== 'DELETED' && this.#matches(w, e.object);
    const before = e.previous !== undefined && this.#matches(w, e.previous);
    let type: WatchEventType | undefined;
    if (e.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else if (now) type = before ? 'MODIFIED' : 'ADDED';
    else if (before) type = 'DELETED';
    if (type === undefined) return;
    w.res.write(`${JSON.stringify({ type, object: e.object })}\n`);
  }

  #endWatch(w: ActiveWatch): void {
    this.#watches.delete(w);
    if (w.timer) clearTimeout(w.timer);
    w.res.end();
  }

  #send(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const query = Object.fromEntries(url.searchParams);
    const route = this.#route(url.pathname);
    const watch = query.watch === 'true' || query.watch === '1';
    this.#requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      resource: route?.resource,
      watch,
      at: Date.now(),
      accept: req.headers.accept ?? '',
      contentType: req.headers['content-type'] ?? '',
    });
    if (this.#options.token !== undefined && req.headers.authorization !== `Bearer ${this.#options.token}`) {
      this.#send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (
      this.#failStatus !== undefined &&
      (this.#failResource === undefined || this.#failResource === route?.resource)
    ) {
      this.#send(res, this.#failStatus, status(this.#failStatus, 'InternalError', 'Injected failure'));
      return;
    }
    const document =
      req.method === 'GET' && route === undefined
        ? discoveryDocument(url.pathname, req.headers.accept ?? '', { endpointSlices: this.#endpointSlices })
        : undefined;
    if (document) {
      res.writeHead(200, { 'Content-Type': document.contentType });
      res.end(document.body);
      return;
    }
    if (!route || (route.resource === 'endpointslices' && !this.#endpointSlices)) {
      this.#send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    try {
      if (req.method !== 'GET') {
        this.#write(req, res, route);
      } else if (route.name !== undefined) {
        const found = this.#store(route.resource).get(`${route.namespace ?? ''}/${route.name}`);
        if (found) this.#send(res, 200, found);
        else this.#send(res, 404, status(404, 'NotFound', `${route.resource} "${route.name}" not found`));
      } else if (watch) {
        this.#watch(req, res, route.resource, route.namespace, query);
      } else {
        this.#list(res, route.resource, route.namespace, query);
      }
    } catch (err) {
      if (!(err instanceof SelectorSyntaxError)) throw err;
      this.#send(res, 400, status(400, 'BadRequest', err.message));
    }
  }

  #route(path: string): Route | undefined {
    for (const [resource, info] of Object.entries(RESOURCES) as [FakeResource, ResourceInfo][]) {
      if (!path.startsWith(`${info.prefix}/`)) continue;
      const parts = path.slice(info.prefix.length + 1).split('/');
      if (parts[0] === 'namespaces' && parts.length >= 3 && parts[2] === resource && info.namespaced) {
        if (parts.length === 3) return { resource, namespace: parts[1], name: undefined };
        if (parts.length === 4) return { resource, namespace: parts[1], name: parts[3] };
      }
      if (parts[0] === resource && parts.length <= 2) {
        if (parts.length === 1) return { resource, namespace: undefined, name: undefined };
        if (!info.namespaced) return { resource, namespace: undefined, name: parts[1] };
      }
    }
    return undefined;
  }

  #list(
    res: ServerResponse,
    resource: FakeResource,
    namespace: string | undefined,
    query: Record<string, string>,
  ): void {
    const info = RESOURCES[resource];
    let snapshot: ListSnapshot;
    let start = 0;
    if (query.continue) {
      const token = JSON.parse(Buffer.from(query.continue, 'base64url').toString()) as {
        id: string;
        start: number;
      };
      const found = this.#snapshots.get(token.id);
      if (!found || found.rv < this.#oldestRv) {
        this.#send(res, 410, status(410, 'Expired', 'The provided continue parameter is too old'));
        return;
      }
      snapshot = found;
      start = token.start;
    } else {
      const selection = {
        namespace,
        labelSelector: query.labelSelector ?? '',
        fieldSelector: query.fieldSelector ?? '',
      };
      const items = [...this.#store(resource).values()]
        .filter((o) => this.#matches(selection, o))
        .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
      snapshot = { rv: this.#rv, items };
    }
    const limit = Number(query.limit ?? 0);
    const end = limit > 0 ? Math.min(snapshot.items.length, start + limit) : snapshot.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshot.rv) };
    if (end < snapshot.items.length) {
      const id = randomUUID();
      this.#snapshots.set(id, snapshot);
      metadata.continue = Buffer.from(JSON.stringify({ id, start: end })).toString('base64url');
      metadata.remainingItemCount = snapshot.items.length - end;
    }
    // List items carry no kind/apiVersion on the wire, as the real server sends them.
    const items = snapshot.items.slice(start, end).map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
    this.#send(res, 200, { kind: `${info.kind}List`, apiVersion: info.apiVersion, metadata, items });
  }

  #watch(
    req: IncomingMessage,
    res: ServerResponse,
    resource: FakeResource,
    namespace: string | undefined,
    query: Record<string, string>,
  ): void {
    const selection = {
      namespace,
      labelSelector: query.labelSelector ?? '',
      fieldSelector: query.fieldSelector ?? '',
    };
    // Parse the selectors before answering 200, so that bad syntax is a 400.
    matchesLabelSelector(selection.labelSelector, {});
    matchesFieldSelector(selection.fieldSelector, {});
    const from = query.resourceVersion ?? '';
    const fromRv = from === '' || from === '0' ? undefined : Number(from);
    const gone = fromRv !== undefined && (Number.isNaN(fromRv) || fromRv < this.#oldestRv);
    if (gone && this.#options.goneAs === 'status') {
      this.#send(res, 410, status(410, 'Expired', `too old resource version: ${from} (${this.#oldestRv})`));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    if (this.#stall) return;
    if (gone) {
      const object = status(410, 'Expired', `too old resource version: ${from} (${this.#oldestRv})`);
      res.end(`${JSON.stringify({ type: 'ERROR', object })}\n`);
      return;
    }
    const timeoutSeconds = Number(query.timeoutSeconds ?? 0);
    const w: ActiveWatch = {
      resource,
      ...selection,
      bookmarks: query.allowWatchBookmarks === 'true',
      res,
      socket: req.socket,
      timer: timeoutSeconds > 0 ? setTimeout(() => this.#endWatch(w), timeoutSeconds * 1000) : undefined,
    };
    this.#watches.add(w);
    req.on('close', () => {
      this.#watches.delete(w);
      if (w.timer) clearTimeout(w.timer);
    });
    if (fromRv === undefined) {
      const items = [...this.#store(resource).values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
      for (const o of items) {
        if (this.#matches(w, o)) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
      }
    } else {
      for (const e of this.#history) {
        if (e.resource === resource && e.rv > fromRv) this.#sendChange(w, e);
      }
    }
  }

  /** Routes a write (POST, PUT, PATCH, DELETE) once its body has arrived. */
  #write(req: IncomingMessage, res: ServerResponse, route: Route): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        this.#send(res, 400, status(400, 'BadRequest', 'body is not JSON'));
        return;
      }
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
      const { resource, namespace, name } = route;
      const unknown = isObjectBody(body) ? unknownFields(resource, body) : [];
      if (
        unknown.length > 0 &&
        new URL(req.url ?? '/', this.url).searchParams.get('fieldValidation') === 'Strict'
      ) {
        const message = `strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`;
        this.#send(res, 400, status(400, 'BadRequest', message));
        return;
      }
      if (req.method === 'POST' && name === undefined) this.#create(res, resource, namespace, body);
      else if (req.method === 'PUT' && name !== undefined) this.#replace(res, route, name, body);
      else if (req.method === 'PATCH' && name !== undefined) this.#patch(res, route, name, contentType, body);
      else if (req.method === 'DELETE' && name !== undefined) this.#delete(res, resource, namespace, name);
      else this.#send(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported here`));
    });
  }

  #create(res: ServerResponse, resource: FakeResource, namespace: string | undefined, body: unknown): void {
    if (!isObjectBody(body)) {
      this.#send(res, 400, status(400, 'BadRequest', 'body must be a JSON object'));
      return;
    }
    const problems = [
      ...objectProblems(resource, body, namespace),
      ...(resource === 'events' ? eventProblems(body) : []),
    ];
    if (problems.length > 0) {
      const kind = RESOURCES[resource].kind;
      this.#send(res, 422, status(422, 'Invalid', `${kind} is invalid: ${problems.join('; ')}`));
      return;
    }
    const metadata = body.metadata as FakeObject['metadata'];
    if (this.#store(resource).has(`${namespace ?? ''}/${metadata.name}`)) {
      this.#send(res, 409, status(409, 'AlreadyExists', `${resource} "${metadata.name}" already exists`));
      return;
    }
    const stored = this.upsert(resource, { ...body, metadata: { ...metadata, ...inNamespace(namespace) } });
    this.#send(res, 201, stored);
  }

  #replace(res: ServerResponse, route: Route, name: string, body: unknown): void {
    const current = this.#store(route.resource).get(`${route.namespace ?? ''}/${name}`);
    if (!current) {
      this.#send(res, 404, status(404, 'NotFound', `${route.resource} "${name}" not found`));
      return;
    }
    this.#update(res, route, current, body);
  }

  #patch(res: ServerResponse, route: Route, name: string, contentType: string, body: unknown): void {
    const current = this.#store(route.resource).get(`${route.namespace ?? ''}/${name}`);
    if (!current) {
      this.#send(res, 404, status(404, 'NotFound', `${route.resource} "${name}" not found`));
      return;
    }
    if (!(PATCH_TYPES as readonly string[]).includes(contentType)) {
      const message = `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`;
      this.#send(res, 415, status(415, 'UnsupportedMediaType', message));
      return;
    }
    const patched = applyPatch(contentType as PatchType, current, body);
    if (!patched.ok) {
      this.#send(res, 422, status(422, 'Invalid', patched.message));
      return;
    }
    this.#update(res, route, current, patched.value);
  }

  /** Stores a new state of an existing object, as PUT and PATCH do (name, namespace and uid are fixed). */
  #update(res: ServerResponse, route: Route, current: FakeObject, body: unknown): void {
    if (!isObjectBody(body)) {
      this.#send(res, 400, status(400, 'BadRequest', 'body must be a JSON object'));
      return;
    }
    const problems = objectProblems(route.resource, body, route.namespace);
    const metadata = body.metadata as FakeObject['metadata'];
    if (metadata.name !== current.metadata.name) problems.push('metadata.name: field is immutable');
    if (problems.length > 0) {
      const kind = RESOURCES[route.resource].kind;
      this.#send(res, 422, status(422, 'Invalid', `${kind} is invalid: ${problems.join('; ')}`));
      return;
    }
    const rv = metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) {
      const message = `Operation cannot be fulfilled on ${route.resource} "${metadata.name}": the object has been modified`;
      this.#send(res, 409, status(409, 'Conflict', message));
      return;
    }
    const stored = this.upsert(route.resource, {
      ...body,
      metadata: { ...metadata, ...inNamespace(route.namespace), uid: current.metadata.uid },
    } as FakeObject);
    this.#send(res, 200, stored);
  }

  #delete(res: ServerResponse, resource: FakeResource, namespace: string | undefined, name: string): void {
    const current = this.#store(resource).get(`${namespace ?? ''}/${name}`);
    if (!current || !this.remove(resource, namespace, name)) {
      this.#send(res, 404, status(404, 'NotFound', `${resource} "${name}" not found`));
      return;
    }
    this.#send(res, 200, current);
  }
}

interface Route {
  readonly resource: FakeResource;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
}

function isObjectBody(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}

function inNamespace(namespace: string | undefined): { namespace?: string } {
  return namespace === undefined ? {} : { namespace };
}

/** The top-level fields of each kind (what `fieldValidation=Strict` checks; deeper fields are not). */
const TOP_LEVEL_FIELDS: Readonly<Record<FakeResource, readonly string[]>> = {
  services: ['spec', 'status'],
  endpoints: ['subsets'],
  nodes: ['spec', 'status'],
  endpointslices: ['addressType', 'endpoints', 'ports'],
  events: [
    'eventTime',
    'series',
    'reportingController',
    'reportingInstance',
    'action',
    'reason',
    'regarding',
    'related',
    'note',
    'type',
    'deprecatedSource',
    'deprecatedFirstTimestamp',
    'deprecatedLastTimestamp',
    'deprecatedCount',
  ],
};

/** Top-level fields of a body that its kind does not have. */
function unknownFields(resource: FakeResource, body: Record<string, unknown>): string[] {
  const known = new Set(['apiVersion', 'kind', 'metadata', ...TOP_LEVEL_FIELDS[resource]]);
  return Object.keys(body).filter((key) => !known.has(key));
}

/** The checks kube-apiserver makes on any object written to a resource. */
function objectProblems(
  resource: FakeResource,
  body: Record<string, unknown>,
  namespace: string | undefined,
): string[] {
  const info = RESOURCES[resource];
  const problems: string[] = [];
  const metadata = body.metadata;
  if (!isObjectBody(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    return ['metadata.name: Required value'];
  }
  if (metadata.namespace !== undefined && metadata.namespace !== namespace) {
    problems.push('metadata.namespace: does not match the namespace of the request');
  }
  if (body.kind !== undefined && body.kind !== info.kind) {
    problems.push(`kind: must be ${info.kind}, got ${JSON.stringify(body.kind)}`);
  }
  if (body.apiVersion !== undefined && body.apiVersion !== info.apiVersion) {
    problems.push(`apiVersion: must be ${info.apiVersion}, got ${JSON.stringify(body.apiVersion)}`);
  }
  return problems;
}

/** The checks kube-apiserver makes on a new events.k8s.io/v1 Event (the ones a client can get wrong). */
function eventProblems(body: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const metadata = (body.metadata ?? {}) as Record<string, unknown>;
  if (typeof metadata.name !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(metadata.name)) {
    problems.push('metadata.name: must be a DNS subdomain');
  }
  if (typeof body.eventTime !== 'string' || !MICRO_TIME.test(body.eventTime)) {
    problems.push(`eventTime: must be RFC3339 with microseconds, got ${JSON.stringify(body.eventTime)}`);
  }
  for (const field of ['reportingController', 'reportingInstance', 'action', 'reason']) {
    if (typeof body[field] !== 'string' || body[field] === '') problems.push(`${field}: Required value`);
  }
  if (body.type !== 'Normal' && body.type !== 'Warning') problems.push('type: must be Normal or Warning');
  if (typeof body.note === 'string' && body.note.length > 1024) problems.push('note: must be at most 1kB');
  return problems;
}
