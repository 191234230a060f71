/**
 * A {@link ProxySource} that serves the Services, EndpointSlices and legacy Endpoints of a manifest file
 * or directory, and follows its changes. When the manifests define this proxy's own Node (`kind: Node`
 * named like `nodeName`), it is delivered as {@link NodeEvent}s: when first seen (before `synced`), when
 * what kproxy reads of it changes, and when it is removed.
 *
 * Changes are noticed by `fs.watch` on every directory (Node 20 has no recursive watch on Linux), with a
 * cheap poll (a `stat` per file) as a safety net for file systems where watching misses events. Bursts of
 * events are debounced. Only differences are emitted: an object whose value did not change produces no
 * event. Editors that save by writing a new file and renaming it over the old one are handled like any
 * other write (the file's inode, size and times are compared, then its content).
 *
 * What is kept when something cannot be read (the "last good version" rules):
 * - a file that becomes unparsable (YAML syntax error) keeps serving everything it served before, including
 *   objects that have disappeared from its new text (the text cannot be read, so nothing is known to be
 *   gone), until it parses again or is removed; one KPROXY_PARSE problem names the line;
 * - an object that becomes invalid keeps its last good version from the same file (its other problems are
 *   reported); an object whose name can no longer be read is a new, nameless object, and the old one is gone;
 * - a file or directory that cannot be read (permissions), or a path that is missing or unreadable as a
 *   whole, keeps what it served: unknown is not gone;
 * - a removed file deletes its objects.
 *
 * File names in problems are relative to the manifest root (the directory given, or the directory of the
 * file given), with `/` separators (`apps/web.yaml`); a problem with the path itself names it as given.
 *
 * @module
 */
import { type FSWatcher, type Stats, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { formatProblem, type ObjectProblem } from '../../model/problem.ts';
import type { NodeSpec } from '../../model/validate_node.ts';
import {
  type NodeEvent,
  type NodeSink,
  objectRef,
  type ProxySource,
  type SourceEvent,
  type SourceSink,
  type SourceStartOptions,
} from '../source.ts';
import { listManifestFiles } from './list_manifest_files.ts';
import { keepLastGood, type LoadedObject, mergeManifests } from './load_manifests.ts';
import { type ManifestEntry, parseManifestFile } from './parse_manifest_file.ts';

/** Options of {@link createManifestSource}. */
export interface ManifestSourceOptions {
  /** How often to look for changes that watching missed, in ms; default 500. */
  readonly pollIntervalMs?: number | undefined;
  /** How long a burst of file events must be quiet before the files are read again, in ms; default 50. */
  readonly debounceMs?: number | undefined;
  /** The time (epoch ms) put in events' `at`; default `Date.now`. */
  readonly clock?: (() => number) | undefined;
  /** This proxy's node (`--hostname-override`): a Node of that name in the manifests is delivered. */
  readonly nodeName?: string | undefined;
}

/**
 * Creates a source serving the manifests at `path`.
 *
 * @param path a manifest file, or a directory of them (`.yaml`, `.yml`, `.json`, recursively)
 * @param options poll interval, debounce, clock and this proxy's node name
 * @returns a source, not started
 * @example
 * const source = createManifestSource('./manifests');
 * await source.start((event) => tracker.apply(event));
 * // ... later
 * await source.stop();
 */
export function createManifestSource(path: string, options: ManifestSourceOptions = {}): ProxySource {
  return new ManifestSource(path, options);
}

/** What the source knows of one file. */
interface FileState {
  /** Inode, size and times: a change means the file must be read again. */
  stamp: string;
  /** The text last read (undefined if it could not be read). */
  text: string | undefined;
  /** Its entries, with last good versions; an unparsable file keeps the entries of its last good text. */
  entries: readonly ManifestEntry[];
}

class ManifestSource implements ProxySource {
  readonly #path: string;
  readonly #pollIntervalMs: number;
  readonly #debounceMs: number;
  readonly #clock: () => number;
  readonly #nodeName: string | undefined;
  #sink: SourceSink | undefined;
  #nodeSink: NodeSink | undefined;
  /** The Node last delivered (undefined: none). */
  #node: NodeSpec | undefined;
  #stopped = false;
  #synced = false;
  readonly #files = new Map<string, FileState>();
  #served: ReadonlyMap<string, LoadedObject> = new Map();
  /** Listing and duplicate problems reported at the last scan (they are not tied to one file's content). */
  #listingReported = new Set<string>();
  #duplicatesReported = new Set<string>();
  readonly #watchers = new Map<string, FSWatcher>();
  #pollTimer: NodeJS.Timeout | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  /** When the current burst of file events began: `at` for what it changes, and the debounce limit. */
  #burst: { readonly at: number; readonly monotonic: number } | undefined;
  /** `at` of the earliest change waiting for a scan. */
  #pendingAt: number | undefined;
  #running: Promise<void> | undefined;

  constructor(path: string, options: ManifestSourceOptions) {
    this.#path = path;
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#clock = options.clock ?? Date.now;
    this.#nodeName = options.nodeName;
  }

  async start(sink: SourceSink, options: SourceStartOptions = {}): Promise<void> {
    if (this.#sink !== undefined) throw new Error(`Manifest source already started: ${this.#path}`);
    this.#sink = sink;
    this.#nodeSink = options.onNode;
    this.#pollTimer = setInterval(() => this.#request(this.#clock()), this.#pollIntervalMs);
    this.#request(this.#clock());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#debounceTimer);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    await this.#running;
  }

  /** A file event: wait for the burst to end (but no longer than five debounce periods), then scan. */
  #onFileEvent(): void {
    if (this.#stopped) return;
    const now = performance.now();
    this.#burst ??= { at: this.#clock(), monotonic: now };
    if (this.#debounceTimer !== undefined && now - this.#burst.monotonic >= this.#debounceMs * 5) return;
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      const at = this.#burst?.at ?? this.#clock();
      this.#debounceTimer = undefined;
      this.#burst = undefined;
      this.#request(at);
    }, this.#debounceMs);
  }

  /** Asks for a scan; scans never overlap, and requests made during one are merged into the next. */
  #request(at: number): void {
    if (this.#stopped) return;
    this.#pendingAt = Math.min(this.#pendingAt ?? at, at);
    this.#running ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pendingAt !== undefined && !this.#stopped) {
        const at = this.#pendingAt;
        this.#pendingAt = undefined;
        try {
          await this.#scan(at);
        } catch (error) {
          // A bug, not an input problem; the watcher must go on, so it is reported and the next scan retries.
          const reason = `scan failed: ${(error as Error).message}`;
          this.#emit({ type: 'problem', problem: rootProblem(this.#path, reason) });
        }
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #scan(at: number): Promise<void> {
    const listing = await listManifestFiles(this.#path);
    if (this.#stopped) return;
    this.#watch(listing.directories);
    // A listing problem (missing path, unreadable directory) is reported when it appears, not at every poll.
    for (const problem of listing.problems) {
      if (!this.#listingReported.has(formatProblem(problem))) this.#emit({ type: 'problem', problem });
    }
    this.#listingReported = new Set(listing.problems.map(formatProblem));
    const changed = new Set<string>();
    const unknown = (file: string) =>
      listing.unreadable.some((dir) => dir === '.' || file.startsWith(`${dir}/`));
    for (const file of this.#files.keys()) {
      if (!listing.files.has(file) && !unknown(file)) {
        this.#files.delete(file);
        changed.add(file);
      }
    }
    for (const [file, absolute] of listing.files) {
      const outcome = await this.#readFile(file, absolute);
      if (outcome === 'unchanged') continue;
      changed.add(file);
      if (outcome === 'removed') this.#files.delete(file);
      else for (const problem of outcome.problems) this.#emit({ type: 'problem', problem });
    }
    if (this.#stopped || (this.#synced && changed.size === 0)) return;

    const merged = mergeManifests(new Map([...this.#files].map(([file, state]) => [file, state.entries])));
    this.#serveNode(merged.node, at);
    // A duplicate is reported when it appears, or again when the file with the ignored definition changed.
    for (const problem of merged.problems) {
      const line = formatProblem(problem);
      if (!this.#duplicatesReported.has(line) || changed.has(problem.file ?? '')) {
        this.#emit({ type: 'problem', problem });
      }
    }
    this.#duplicatesReported = new Set(merged.problems.map(formatProblem));

    const served = merged.objects;
    for (const [key, { object }] of this.#served) {
      if (!served.has(key)) this.#emit({ type: 'delete', ref: objectRef(object), at });
    }
    for (const [key, { object }] of served) {
      const before = this.#served.get(key)?.object;
      if (before === undefined) this.#emit({ type: 'add', object, at });
      // The objects of a file that was not read again are the very same: no deep comparison for them.
      else if (before !== object && !isDeepStrictEqual(before, object)) {
        this.#emit({ type: 'update', object, at });
      }
    }
    this.#served = served;
    if (!this.#synced) {
      this.#synced = true;
      this.#emit({ type: 'synced' });
    }
  }

  /** Reads one file again if its stamp changed; updates its state. */
  async #readFile(
    file: string,
    absolute: string,
  ): Promise<'unchanged' | 'removed' | { readonly problems: readonly ObjectProblem[] }> {
    const old = this.#files.get(file);
    let stamp: string;
    let text: string | undefined;
    try {
      const stats = await stat(absolute);
      stamp = stampOf(stats);
      if (old?.stamp === stamp) return 'unchanged';
      // Written a moment ago (a poll tick can land between an editor's truncate and its write): read it
      // once the writer has been quiet for a debounce period rather than serve a half-written file. The
      // initial load does not wait: `synced` must follow a complete first read.
      const age = Date.now() - stats.mtimeMs;
      if (this.#synced && age >= 0 && age < this.#debounceMs) {
        this.#onFileEvent();
        return 'unchanged';
      }
      text = await readFile(absolute, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return old === undefined ? 'unchanged' : 'removed';
      // Unreadable (permissions...): what it gave is unknown, not gone. Reported once per change of stamp.
      const errorStamp = `error:${code}`;
      if (old?.stamp === errorStamp) return 'unchanged';
      this.#files.set(file, { stamp: errorStamp, text: undefined, entries: old?.entries ?? [] });
      const problem = rootProblem(file, `cannot read (${code ?? (error as Error).message})`);
      return { problems: [problem] };
    }
    // A file written while it was read is read again once the writer is done.
    const after = await stat(absolute).catch(() => undefined);
    if (after !== undefined && stampOf(after) !== stamp) this.#onFileEvent();
    if (old !== undefined && old.text === text) {
      old.stamp = stamp; // touched, or saved unchanged
      return 'unchanged';
    }
    const parsed = parseManifestFile(file, text, { nodeName: this.#nodeName });
    const entries = parsed.ok ? keepLastGood(old?.entries, parsed.entries) : (old?.entries ?? []);
    this.#files.set(file, { stamp, text, entries });
    return { problems: parsed.problems };
  }

  /** Delivers this node's Node when it appears, changes or goes. */
  #serveNode(node: NodeSpec | undefined, at: number): void {
    const before = this.#node;
    this.#node = node;
    if (node !== undefined) {
      if (before === undefined || !isDeepStrictEqual(before, node))
        this.#emitNode({ type: 'node', node, at });
    } else if (before !== undefined) {
      this.#emitNode({ type: 'nodeDeleted', name: before.name, at });
    }
  }

  #emitNode(event: NodeEvent): void {
    if (this.#stopped || this.#nodeSink === undefined) return;
    try {
      this.#nodeSink(event);
    } catch {
      // A sink must not throw (see NodeSink); if one does, the watcher still goes on.
    }
  }

  #watch(directories: readonly string[]): void {
    const wanted = new Set(directories);
    for (const [directory, watcher] of this.#watchers) {
      if (!wanted.has(directory)) {
        watcher.close();
        this.#watchers.delete(directory);
      }
    }
    for (const directory of wanted) {
      if (this.#watchers.has(directory)) continue;
      try {
        const watcher = watch(directory, () => this.#onFileEvent());
        watcher.on('error', () => {
          // The directory went away (or the watch broke): the poll covers it until a scan watches again.
          watcher.close();
          this.#watchers.delete(directory);
          this.#onFileEvent();
        });
        this.#watchers.set(directory, watcher);
      } catch {
        // Out of inotify watches, or the directory just vanished: the poll still sees changes.
      }
    }
  }

  #emit(event: SourceEvent): void {
    if (this.#stopped || this.#sink === undefined) return;
    try {
      this.#sink(event);
    } catch {
      // A sink must not throw (see SourceSink); if one does, the watcher still goes on.
    }
  }
}

function stampOf(stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

function rootProblem(file: string, reason: string): ObjectProblem {
  return { code: 'KPROXY_PARSE', file, kind: '?', namespace: '', name: '', field: '', reason };
}
