/**
 * The three patch formats kube-apiserver accepts on `PATCH`, for the fake API server, as real clients
 * send them (kubectl patch --type json|merge|strategic, and the three-way patch of `kubectl apply`):
 *
 * - `application/json-patch+json`: RFC 6902 (add, remove, replace, move, copy, test);
 * - `application/merge-patch+json`: RFC 7386 (objects merged, `null` deletes, lists replaced);
 * - `application/strategic-merge-patch+json`: a merge patch whose lists with a patch merge key are merged
 *   item by item (Service `spec.ports` by `port`), with the directives kubectl generates: `$patch`
 *   (`delete`, `replace`), `$setElementOrder/<list>`, `$retainKeys` and `$deleteFromPrimitiveList/<list>`.
 *
 * A patch the fake cannot apply is a value ({@link PatchResult}), which the fake turns into the 4xx the
 * real server would answer.
 *
 * @module
 */

/** The patch content types kube-apiserver accepts (server-side apply excepted). */
export type PatchType =
  | 'application/json-patch+json'
  | 'application/merge-patch+json'
  | 'application/strategic-merge-patch+json';

/** The patch content types, for matching a request's `Content-Type`. */
export const PATCH_TYPES: readonly PatchType[] = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
];

/** A patched object, or why the patch cannot be applied (the 422 message). */
export type PatchResult =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  | { readonly ok: false; readonly message: string };

type Json = unknown;
type JsonObject = Record<string, Json>;

/**
 * The lists that strategic merge patch merges item by item, by dotted path from the object's root, with
 * their patch merge key (from the `patchMergeKey` tags of k8s.io/api for the kinds the fake serves).
 * Every other list (EndpointSlice `endpoints` and `ports` are `listType=atomic`) is replaced.
 */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  'spec.ports': 'port',
  'metadata.ownerReferences': 'uid',
  'status.addresses': 'type',
  'status.conditions': 'type',
};

function isObject(v: Json): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * Applies a patch of one of the {@link PatchType}s to an object.
 *
 * @param type the request's Content-Type (parameters stripped)
 * @param target the stored object (not modified)
 * @param patch the parsed request body
 * @returns the patched object, or the reason it cannot be patched
 * @example applyPatch('application/merge-patch+json', { a: 1, b: 2 }, { b: null }) // { ok: true, value: { a: 1 } }
 */
export function applyPatch(type: PatchType, target: Record<string, unknown>, patch: unknown): PatchResult {
  switch (type) {
    case 'application/json-patch+json':
      return jsonPatch(target, patch);
    case 'application/merge-patch+json':
      if (!isObject(patch)) return { ok: false, message: 'a merge patch must be a JSON object' };
      return { ok: true, value: mergePatch(target, patch) as Record<string, unknown> };
    case 'application/strategic-merge-patch+json':
      if (!isObject(patch)) return { ok: false, message: 'a strategic merge patch must be a JSON object' };
      try {
        return { ok: true, value: strategicMerge(clone(target), patch, '') };
      } catch (err) {
        return { ok: false, message: (err as Error).message };
      }
    default: {
      const never: never = type;
      return { ok: false, message: `unsupported patch type ${String(never)}` };
    }
  }
}

/**
 * RFC 7386 JSON merge patch.
 *
 * @param target the document (not modified)
 * @param patch the patch
 * @returns the merged document
 * @example mergePatch({ a: { b: 1 } }, { a: { c: 2 } }) // { a: { b: 1, c: 2 } }
 */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function strategicMerge(target: JsonObject, patch: JsonObject, path: string): JsonObject {
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return clone(rest);
  }
  const retain = patch.$retainKeys;
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const list = key.slice('$deleteFromPrimitiveList/'.length);
      const current = target[list];
      if (Array.isArray(current) && Array.isArray(value)) {
        target[list] = current.filter((item) => !value.includes(item));
      }
      continue;
    }
    const childPath = path === '' ? key : `${path}.${key}`;
    if (value === null) {
      delete target[key];
    } else if (isObject(value)) {
      if (value.$patch === 'delete') delete target[key];
      else target[key] = strategicMerge(isObject(target[key]) ? target[key] : {}, value, childPath);
    } else if (Array.isArray(value)) {
      const mergeKey = MERGE_KEYS[childPath];
      const current = target[key];
      target[key] =
        mergeKey === undefined
          ? clone(value)
          : mergeList(Array.isArray(current) ? current : [], value, mergeKey, childPath);
    } else {
      target[key] = value;
    }
  }
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const list = key.slice('$setElementOrder/'.length);
    const mergeKey = MERGE_KEYS[path === '' ? list : `${path}.${list}`];
    const current = target[list];
    if (mergeKey !== undefined && Array.isArray(current)) target[list] = reorder(current, order, mergeKey);
  }
  if (Array.isArray(retain)) {
    for (const key of Object.keys(target)) if (!retain.includes(key)) delete target[key];
  }
  return target;
}

function mergeList(current: Json[], patch: Json[], mergeKey: string, path: string): Json[] {
  const out = current.map(clone);
  for (const item of patch) {
    if (!isObject(item) || item[mergeKey] === undefined) {
      throw new Error(`${path}: every item of a strategic merge patch list needs its merge key ${mergeKey}`);
    }
    const at = out.findIndex((o) => isObject(o) && o[mergeKey] === item[mergeKey]);
    if (item.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) {
      out[at] = strategicMerge(out[at] as JsonObject, item, path);
    } else {
      const { $patch: _p, ...rest } = item;
      out.push(rest);
    }
  }
  return out;
}

/** Orders a merged list as `$setElementOrder` says; items it does not name keep their place after. */
function reorder(list: Json[], order: Json[], mergeKey: string): Json[] {
  const keyOf = (o: Json): Json => (isObject(o) ? o[mergeKey] : undefined);
  const named = order.map((o) => keyOf(o));
  const ordered = named
    .map((k) => list.find((item) => keyOf(item) === k))
    .filter((item): item is Json => item !== undefined);
  return [...ordered, ...list.filter((item) => !named.includes(keyOf(item)))];
}

/** Splits an RFC 6901 pointer into its unescaped tokens. */
function pointer(path: unknown): string[] | undefined {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) return undefined;
  if (path === '') return [];
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The container of a pointer's last token, and that token. */
function locate(doc: Json, tokens: string[]): { parent: Json; last: string } | undefined {
  let parent = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(parent)) parent = parent[Number(token)];
    else if (isObject(parent)) parent = parent[token];
    else return undefined;
  }
  const last = tokens.at(-1);
  return last === undefined || (!Array.isArray(parent) && !isObject(parent)) ? undefined : { parent, last };
}

function get(doc: Json, tokens: string[]): Json {
  let current = doc;
  for (const token of tokens) {
    if (Array.isArray(current)) current = current[Number(token)];
    else if (isObject(current)) current = current[token];
    else return undefined;
  }
  return current;
}

function index(list: Json[], token: string, forAdd: boolean): number | undefined {
  if (forAdd && token === '-') return list.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
  const i = Number(token);
  return i < list.length + (forAdd ? 1 : 0) ? i : undefined;
}

function add(doc: Json, tokens: string[], value: Json): boolean {
  const at = locate(doc, tokens);
  if (!at) return false;
  if (Array.isArray(at.parent)) {
    const i = index(at.parent, at.last, true);
    if (i === undefined) return false;
    at.parent.splice(i, 0, clone(value));
    return true;
  }
  (at.parent as JsonObject)[at.last] = clone(value);
  return true;
}

function remove(doc: Json, tokens: string[]): Json {
  const at = locate(doc, tokens);
  if (!at) return undefined;
  if (Array.isArray(at.parent)) {
    const i = index(at.parent, at.last, false);
    return i === undefined ? undefined : at.parent.splice(i, 1)[0];
  }
  const parent = at.parent as JsonObject;
  if (!(at.last in parent)) return undefined;
  const old = parent[at.last];
  delete parent[at.last];
  return old;
}

function jsonPatch(target: Record<string, unknown>, patch: unknown): PatchResult {
  if (!Array.isArray(patch)) return { ok: false, message: 'a JSON patch must be a list of operations' };
  const doc: JsonObject = clone(target);
  for (const [i, op] of patch.entries()) {
    const fail = (why: string): PatchResult => ({ ok: false, message: `operation ${i}: ${why}` });
    if (!isObject(op)) return fail('not an object');
    const path = pointer(op.path);
    if (path === undefined || path.length === 0) return fail(`bad path ${JSON.stringify(op.path)}`);
    switch (op.op) {
      case 'add':
        if (!add(doc, path, op.value)) return fail(`cannot add at ${String(op.path)}`);
        break;
      case 'remove':
        if (remove(doc, path) === undefined) return fail(`nothing to remove at ${String(op.path)}`);
        break;
      case 'replace':
        if (remove(doc, path) === undefined) return fail(`nothing to replace at ${String(op.path)}`);
        if (!add(doc, path, op.value)) return fail(`cannot replace at ${String(op.path)}`);
        break;
      case 'move':
      case 'copy': {
        const from = pointer(op.from);
        if (from === undefined) return fail(`bad from ${JSON.stringify(op.from)}`);
        const value = op.op === 'move' ? remove(doc, from) : clone(get(doc, from));
        if (value === undefined) return fail(`nothing at ${String(op.from)}`);
        if (!add(doc, path, value)) return fail(`cannot ${op.op} to ${String(op.path)}`);
        break;
      }
      case 'test':
        if (JSON.stringify(get(doc, path)) !== JSON.stringify(op.value)) {
          return fail(`test failed at ${String(op.path)}`);
        }
        break;
      default:
        return fail(`unknown op ${JSON.stringify(op.op)}`);
    }
  }
  return { ok: true, value: doc };
}
