/**
 * Combines the parsed manifest files into the set of objects a manifest source serves: duplicates
 * resolved (the first file in sorted order wins), and an invalid object's last good version kept.
 * Pure: {@link loadManifests} is the whole manifest pipeline without the file system.
 *
 * @module
 */
import type { ObjectProblem } from '../../model/problem.ts';
import type { NodeSpec } from '../../model/validate_node.ts';
import { objectRef, type ProxyObject, refKey } from '../source.ts';
import { type ManifestEntry, type ParseManifestOptions, parseManifestFile } from './parse_manifest_file.ts';

/** One served object and the file that defines it. */
export interface LoadedObject {
  readonly object: ProxyObject;
  readonly file: string;
}

/** What a set of manifest files serves. */
export interface LoadedManifests {
  /** Keyed by {@link refKey}, in sorted key order. */
  readonly objects: ReadonlyMap<string, LoadedObject>;
  /** This proxy's Node, when the files define it (see {@link ParseManifestOptions.nodeName}). */
  readonly node?: NodeSpec | undefined;
  readonly problems: readonly ObjectProblem[];
}

/**
 * Loads manifest files given as text: parses each, then merges them with {@link mergeManifests}.
 *
 * @param files file name (as problems show it) to content
 * @param options this proxy's node name, so that its Node is read
 * @returns the served objects and every problem: parse and validation problems in file order, then
 *   duplicates
 * @example
 * const { objects, problems } = loadManifests(new Map([['web.yaml', text]]));
 * objects.get('Service/default/web')?.object
 */
export function loadManifests(
  files: ReadonlyMap<string, string>,
  options: ParseManifestOptions = {},
): LoadedManifests {
  const problems: ObjectProblem[] = [];
  const parsed = new Map<string, readonly ManifestEntry[]>();
  for (const file of [...files.keys()].sort()) {
    const result = parseManifestFile(file, files.get(file) ?? '', options);
    problems.push(...result.problems);
    if (result.ok) parsed.set(file, result.entries);
  }
  const merged = mergeManifests(parsed);
  return { ...merged, problems: [...problems, ...merged.problems] };
}

/**
 * Merges the entries of several files. Files are taken in sorted order and entries in file order; an
 * object defined again (same kind, namespace and name, in the same file or another) is a KPROXY_DUPLICATE
 * problem on the later definition, and the first one is served, so that the choice does not depend on the
 * order in which files were read or changed.
 *
 * @param files file name to its entries
 * @returns the served objects and the duplicate problems
 */
export function mergeManifests(files: ReadonlyMap<string, readonly ManifestEntry[]>): LoadedManifests {
  const problems: ObjectProblem[] = [];
  const firstFile = new Map<string, string>();
  const objects = new Map<string, LoadedObject>();
  let node: NodeSpec | undefined;
  for (const file of [...files.keys()].sort()) {
    for (const entry of files.get(file) ?? []) {
      const first = firstFile.get(entry.identity);
      if (first !== undefined) {
        problems.push(duplicate(entry, file, first));
        continue;
      }
      firstFile.set(entry.identity, file);
      node = entry.node ?? node;
      for (const object of entry.objects) {
        const key = refKey(objectRef(object));
        const clash = objects.get(key);
        if (clash === undefined) objects.set(key, { object, file });
        else problems.push(duplicate(entry, file, clash.file, key));
      }
    }
  }
  return { objects: sortedByKey(objects), ...(node === undefined ? {} : { node }), problems };
}

/**
 * The map in key order. Files are usually written in name order (generators, `kubectl get`), so the
 * entries often come sorted already: checking costs one pass, sorting tens of thousands of keys much more.
 */
function sortedByKey<V>(map: Map<string, V>): Map<string, V> {
  let previous: string | undefined;
  for (const key of map.keys()) {
    if (previous !== undefined && previous > key) {
      return new Map([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    previous = key;
  }
  return map;
}

function duplicate(entry: ManifestEntry, file: string, first: string, key?: string): ObjectProblem {
  const what = key === undefined ? 'also defined' : `gives ${key}, also given`;
  const where = first === file ? 'earlier in this file' : `in ${first}`;
  return {
    code: 'KPROXY_DUPLICATE',
    file,
    kind: entry.kind,
    namespace: entry.namespace,
    name: entry.name,
    field: '',
    reason: `${what} ${where}: this definition is ignored`,
  };
}

/**
 * Gives each invalid entry of a file's new version the objects of the entry with the same identity in
 * its previous version (its last good version, carried on from version to version), so that breaking an
 * object in a file does not delete it. Valid and skipped entries, and entries new to the file, are kept
 * as they are.
 *
 * @param previous the entries of the file's previous version (undefined for a new file)
 * @param next the entries of its new version
 * @returns `next`, with last good versions filled in
 */
export function keepLastGood(
  previous: readonly ManifestEntry[] | undefined,
  next: readonly ManifestEntry[],
): ManifestEntry[] {
  const before = new Map((previous ?? []).map((entry) => [entry.identity, entry]));
  return next.map((entry) => {
    const old = before.get(entry.identity);
    if (entry.status !== 'invalid' || old === undefined) return entry;
    return { ...entry, objects: old.objects, ...(old.node === undefined ? {} : { node: old.node }) };
  });
}
