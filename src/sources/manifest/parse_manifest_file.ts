/**
 * Turns the text of one manifest file into validated proxy objects: multi-document YAML (JSON is read as
 * the YAML it is), `kind: List` and typed lists (`ServiceList`, `EndpointSliceList`, what
 * `kubectl get svc,endpointslices -A -o yaml` prints), Services, EndpointSlices and legacy Endpoints,
 * and this proxy's own Node when the caller names it. Pure: no I/O, the same text always gives the same result.
 *
 * @module
 */
import { Composer, isMap, isSeq, LineCounter, Parser, parseAllDocuments, type Node as YamlNode } from 'yaml';
import { describe, isDns1123Label, isDns1123Subdomain, isRecord } from '../../model/_field_checks.ts';
import type { ObjectProblem } from '../../model/problem.ts';
import { validateEndpointSlice, validateEndpoints } from '../../model/validate_endpoints.ts';
import { type NodeSpec, validateNode } from '../../model/validate_node.ts';
import { NO_CLUSTER_IP_REASON, validateService } from '../../model/validate_service.ts';
import type { Validated } from '../../model/validated.ts';
import type { ProxyObject } from '../source.ts';

/** The kinds of manifest objects kproxy reads. */
export type ManifestKind = 'Service' | 'EndpointSlice' | 'Endpoints' | 'Node';

/** Options of {@link parseManifestFile}. */
export interface ParseManifestOptions {
  /**
   * This proxy's node (`--hostname-override`): a `kind: Node` of that name is read; other Nodes, and every
   * Node when this is undefined, are ignored like any kind kproxy does not read.
   */
  readonly nodeName?: string | undefined;
}

/** One object of a manifest file, validated. */
export interface ManifestEntry {
  /**
   * `Kind/namespace/name` as the manifest names it (`Node/name` for a Node): the key for duplicates and
   * last good versions.
   */
  readonly identity: string;
  readonly kind: ManifestKind;
  readonly namespace: string;
  readonly name: string;
  /**
   * `valid`: `objects` is what the manifest says; `skipped`: not proxied (headless, ExternalName...), no
   * objects; `invalid`: the object has problems, `objects` is its last good version if the caller kept one.
   */
  readonly status: 'valid' | 'skipped' | 'invalid';
  /** A Service gives one object; Endpoints give one slice per family (possibly none); a Node none. */
  readonly objects: readonly ProxyObject[];
  /** This proxy's Node (its last good version for an invalid entry); only on a `Node` entry. */
  readonly node?: NodeSpec | undefined;
}

/** What one file gives: its entries, or nothing usable when it cannot be parsed. */
export type ParsedManifestFile =
  | {
      readonly ok: true;
      readonly entries: readonly ManifestEntry[];
      readonly problems: readonly ObjectProblem[];
    }
  | { readonly ok: false; readonly problems: readonly ObjectProblem[] };

const API_VERSIONS: Readonly<Record<ManifestKind, string>> = {
  Service: 'v1',
  Endpoints: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Node: 'v1',
};

/**
 * Parses and validates one manifest file.
 *
 * A YAML (or JSON) syntax error makes the whole file unparsable (`ok: false`, one KPROXY_PARSE problem
 * naming the line), so that the caller can keep what the file gave before. Objects of kinds kproxy does not
 * read (Deployments, ConfigMaps, a Knative `Service` of another API group...) are ignored silently; a
 * document without `kind` is a problem. Problems of an object that has no name end with its line.
 *
 * @param file the file's name as problems show it
 * @param text its content
 * @param options this proxy's node name, so that its Node is read
 * @returns the entries in file order, and the problems found
 * @example
 * parseManifestFile('web.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\n' +
 *   'spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n')
 * // { ok: true, entries: [{ identity: 'Service/default/web', status: 'valid', ... }], problems: [] }
 */
export function parseManifestFile(
  file: string,
  text: string,
  options: ParseManifestOptions = {},
): ParsedManifestFile {
  return parseJson(file, text, options) ?? parseYaml(file, text, options);
}

/**
 * The fast path for a JSON file (what generators and `kubectl -o json` write): `JSON.parse` is some forty
 * times faster than building a YAML document tree, and holds no tree. Taken only when the result is the
 * one YAML would give: a single object or array, no duplicate keys (an error in YAML, the last one wins in
 * JSON) and no `<<` merge key or `__proto__` key; anything else goes the YAML way. Lines for problems are
 * found by parsing the text as YAML only if a problem needs one.
 */
function parseJson(
  file: string,
  text: string,
  options: ParseManifestOptions,
): ParsedManifestFile | undefined {
  const start = /\S/.exec(text)?.[0];
  if (start !== '{' && start !== '[') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined; // several documents, comments, YAML...: not for this path
  }
  let keys: number | undefined;
  try {
    keys = countKeys(value);
  } catch {
    return undefined; // nested deeper than the stack allows: the YAML path decides, as it always did
  }
  if (keys === undefined || keys !== countKeysInText(text)) return undefined;
  const lineCounter = new LineCounter();
  let document: { readonly node: YamlNode | null | undefined } | undefined;
  const root = new LazyLocation(() => {
    document ??= {
      node: parseAllDocuments(text, { lineCounter, prettyErrors: false, merge: true })[0]?.contents,
    };
    return document.node;
  }, []);
  const reader = new ManifestReader(file, lineCounter, options);
  reader.read(value, root, undefined);
  return { ok: true, entries: reader.entries, problems: reader.problems };
}

/** The number of keys of every mapping in a parsed JSON value; undefined if one is `<<` or `__proto__`. */
function countKeys(value: unknown): number | undefined {
  if (Array.isArray(value)) {
    let total = 0;
    for (const item of value) {
      const n = countKeys(item);
      if (n === undefined) return undefined;
      total += n;
    }
    return total;
  }
  if (value === null || typeof value !== 'object') return 0;
  let total = 0;
  for (const key in value) {
    if (key === '<<' || key === '__proto__') return undefined;
    const n = countKeys((value as Record<string, unknown>)[key]);
    if (n === undefined) return undefined;
    total += n + 1;
  }
  return total;
}

/**
 * The number of keys written in a valid JSON text: the strings followed by a colon. Strings are matched
 * one after the other from the start (outside strings, valid JSON has no `"`), so a colon inside a string
 * is never taken for a key's.
 */
function countKeysInText(text: string): number {
  // A scan rather than a regular expression: a string with millions of escapes would exhaust the regex
  // engine's backtrack stack.
  let keys = 0;
  let start = text.indexOf('"');
  while (start !== -1) {
    let end = text.indexOf('"', start + 1);
    while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
    if (end === -1) return keys;
    let next = end + 1;
    while (next < text.length && isJsonSpace(text.charCodeAt(next))) next++;
    if (text[next] === ':') keys++;
    start = text.indexOf('"', next);
  }
  return keys;
}

/** Whether the character at `at` follows an odd number of backslashes. */
function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  for (let i = at - 1; i >= 0 && text.charCodeAt(i) === 0x5c; i--) backslashes++;
  return backslashes % 2 === 1;
}

function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

function parseYaml(file: string, text: string, options: ParseManifestOptions): ParsedManifestFile {
  const lineCounter = new LineCounter();
  const reader = new ManifestReader(file, lineCounter, options);
  const composer = new Composer({ prettyErrors: false, merge: true });
  for (const document of composer.compose(new Parser(lineCounter.addNewLine).parse(text))) {
    const error = document.errors[0];
    if (error !== undefined) {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      return { ok: false, problems: [fileProblem(file, `line ${line}, column ${col}: ${error.message}`)] };
    }
    let value: unknown;
    try {
      value = document.toJS();
    } catch (cause) {
      const { line } = lineCounter.linePos(document.range[0]);
      return { ok: false, problems: [fileProblem(file, `line ${line}: ${(cause as Error).message}`)] };
    }
    reader.read(value, document.contents, undefined);
  }
  return { ok: true, entries: reader.entries, problems: reader.problems };
}

/**
 * Where a value is in the JSON fast path: the path of `items` indexes from the document, turned into a YAML
 * node only when a line is asked for.
 */
class LazyLocation {
  readonly #document: () => YamlNode | null | undefined;
  readonly #path: readonly number[];

  constructor(document: () => YamlNode | null | undefined, path: readonly number[]) {
    this.#document = document;
    this.#path = path;
  }

  item(index: number): LazyLocation {
    return new LazyLocation(this.#document, [...this.#path, index]);
  }

  /** The node, as the YAML path finds it: an item without a node of its own is located at its list. */
  node(): YamlNode | null | undefined {
    let node = this.#document();
    for (const index of this.#path) {
      const items = isMap(node) ? node.get('items', true) : undefined;
      const item = isSeq(items) ? (items.items[index] as YamlNode | undefined) : undefined;
      node = item ?? node;
    }
    return node;
  }
}

/** Where a value is: a YAML node (or none), or a location resolved lazily. */
type Location = YamlNode | null | undefined | LazyLocation;

function fileProblem(file: string, reason: string): ObjectProblem {
  return { code: 'KPROXY_PARSE', file, kind: '?', namespace: '', name: '', field: '', reason };
}

class ManifestReader {
  readonly entries: ManifestEntry[] = [];
  readonly problems: ObjectProblem[] = [];
  readonly #file: string;
  readonly #lines: LineCounter;
  readonly #nodeName: string | undefined;

  constructor(file: string, lines: LineCounter, options: ParseManifestOptions) {
    this.#file = file;
    this.#lines = lines;
    this.#nodeName = options.nodeName;
  }

  /** Reads one document or list item; `inherited` is the kind and apiVersion of the typed list around it. */
  read(value: unknown, node: Location, inherited: { kind: string; apiVersion: unknown } | undefined) {
    if (value === null || value === undefined) return; // an empty document, e.g. after a trailing `---`
    // Only problems show the line: found when needed (the JSON fast path parses the text again for it).
    const line = () => this.#lineOf(node);
    if (!isRecord(value)) {
      this.#problem('KPROXY_SHAPE', '?', '', `not a mapping: got ${describe(value)} (line ${line()})`);
      return;
    }
    const kind = value['kind'] ?? inherited?.kind;
    // Items of a typed list (an API list response) may carry neither kind nor apiVersion: the list's apply.
    const apiVersion = value['apiVersion'] ?? (kind === inherited?.kind ? inherited?.apiVersion : undefined);
    if (typeof kind !== 'string' || kind === '') {
      const reason =
        kind === undefined || kind === null ? 'required' : `must be a string, got ${describe(kind)}`;
      this.#problem('KPROXY_SHAPE', '?', 'kind', `${reason} (line ${line()})`, value);
      return;
    }
    if (kind.endsWith('List') && Array.isArray(value['items'])) {
      this.#readList(
        value['items'],
        node,
        kind === 'List' ? undefined : { kind: kind.slice(0, -4), apiVersion },
      );
      return;
    }
    if (kind !== 'Service' && kind !== 'EndpointSlice' && kind !== 'Endpoints' && kind !== 'Node') return; // not ours: ignored
    // Another node's Node (a `kubectl get nodes -o yaml` dump) is not ours either.
    if (kind === 'Node' && (this.#nodeName === undefined || rawIdentity(value).name !== this.#nodeName))
      return;
    if (apiVersion === undefined || apiVersion === null) {
      this.#problem('KPROXY_SHAPE', kind, 'apiVersion', `required (line ${line()})`, value);
      return;
    }
    if (kind === 'EndpointSlice' && apiVersion === 'discovery.k8s.io/v1beta1') {
      const reason = `discovery.k8s.io/v1beta1 is not supported (removed in Kubernetes 1.25): use discovery.k8s.io/v1`;
      this.#problem('KPROXY_UNSUPPORTED', kind, 'apiVersion', reason, value);
      return;
    }
    if (apiVersion !== API_VERSIONS[kind]) return; // the same kind name in another API group: not ours
    this.#readObject(kind, value, line);
  }

  #readList(
    items: readonly unknown[],
    node: Location,
    inherited: { kind: string; apiVersion: unknown } | undefined,
  ) {
    if (node instanceof LazyLocation) {
      items.forEach((item, i) => {
        this.read(item, node.item(i), inherited);
      });
      return;
    }
    const itemNodes = isMap(node) ? node.get('items', true) : undefined;
    items.forEach((item, i) => {
      const itemNode = isSeq(itemNodes) ? (itemNodes.items[i] as YamlNode | undefined) : undefined;
      this.read(item, itemNode ?? node, inherited);
    });
  }

  #readObject(kind: ManifestKind, value: Record<string, unknown>, line: () => number) {
    const raw = rawIdentity(value);
    const { name } = raw;
    // A Node is cluster-scoped: no namespace in its identity or problems.
    const namespace = kind === 'Node' ? '' : raw.namespace;
    const identity =
      name === undefined ? undefined : kind === 'Node' ? `Node/${name}` : `${kind}/${namespace}/${name}`;
    const result = validate(kind, value, this.#file);
    if (result.ok === true && result.problems !== undefined) {
      // Kept without the fields these name (a bad trafficDistribution or hint list): reported all the same.
      this.problems.push(...result.problems);
    }
    if (result.ok === false) {
      // Without a name, the object cannot be found in the file by the reader of a problem: give its line.
      const suffix = identity === undefined ? ` (line ${line()})` : '';
      this.problems.push(...result.problems.map((p) => ({ ...p, reason: `${p.reason}${suffix}` })));
    }
    if (result.ok === 'skipped' && result.reason === NO_CLUSTER_IP_REASON) {
      this.problems.push({
        code: 'KPROXY_UNSUPPORTED',
        file: this.#file,
        kind,
        namespace,
        name: name ?? '',
        field: 'spec.clusterIP',
        reason: 'not set: a manifest must give the cluster IP the API server would allocate; not proxied',
      });
    }
    if (identity === undefined || name === undefined) return;
    const objects = result.ok === true ? result.value.objects : [];
    const node = result.ok === true ? result.value.node : undefined;
    const status = result.ok === true ? 'valid' : result.ok === 'skipped' ? 'skipped' : 'invalid';
    this.entries.push({
      identity,
      kind,
      namespace,
      name,
      status,
      objects,
      ...(node === undefined ? {} : { node }),
    });
  }

  #lineOf(location: Location): number {
    const node = location instanceof LazyLocation ? location.node() : location;
    return node?.range ? this.#lines.linePos(node.range[0]).line : 1;
  }

  #problem(
    code: ObjectProblem['code'],
    kind: string,
    field: string,
    reason: string,
    value?: Record<string, unknown>,
  ) {
    const { namespace, name } = value === undefined ? { namespace: '', name: undefined } : rawIdentity(value);
    const where = name === undefined ? { namespace: '', name: '' } : { namespace, name };
    this.problems.push({ code, file: this.#file, kind, ...where, field, reason });
  }
}

/**
 * The namespace and name an object claims (before validation), for identities and problems; a claimed
 * name that is not a valid name is shown quoted and escaped, so that it can never forge a log line.
 */
function rawIdentity(value: Record<string, unknown>): { namespace: string; name: string | undefined } {
  const metadata = isRecord(value['metadata']) ? value['metadata'] : {};
  const name = metadata['name'];
  const namespace = metadata['namespace'];
  const safe = (s: string, isValid: (s: string) => boolean) => (isValid(s) ? s : describe(s));
  return {
    namespace:
      typeof namespace === 'string' && namespace !== '' ? safe(namespace, isDns1123Label) : 'default',
    name: typeof name === 'string' && name !== '' ? safe(name, isDns1123Subdomain) : undefined,
  };
}

/** What one manifest object gives: proxy objects, or this proxy's Node. */
interface EntryValue {
  readonly objects: readonly ProxyObject[];
  readonly node?: NodeSpec | undefined;
}

function validate(kind: ManifestKind, value: unknown, file: string): Validated<EntryValue> {
  switch (kind) {
    case 'Node': {
      const result = validateNode(value, file);
      return result.ok === true ? { ...result, value: { objects: [], node: result.value } } : result;
    }
    case 'Service':
      return lift(validateService(value, file), (spec) => [{ kind: 'Service', spec }]);
    case 'EndpointSlice':
      return lift(validateEndpointSlice(value, file), (spec) => [{ kind: 'EndpointSlice', spec }]);
    case 'Endpoints':
      return lift(validateEndpoints(value, file), (specs) =>
        specs.map((spec) => ({ kind: 'EndpointSlice', spec })),
      );
    default: {
      const never: never = kind;
      throw new Error(`Unknown manifest kind: ${String(never)}`);
    }
  }
}

function lift<T>(result: Validated<T>, toObjects: (value: T) => ProxyObject[]): Validated<EntryValue> {
  // A spread keeps the problems of an object kept without its bad optional fields.
  return result.ok === true ? { ...result, value: { objects: toObjects(result.value) } } : result;
}
