/**
 * Label and field selectors as the API server evaluates them, for the fake API server. Unsupported
 * syntax is an error (the fake answers 400), so that a client sending something the fake does not
 * understand fails loudly instead of being silently served everything.
 *
 * @module
 */
import { KproxyError } from '../../../contracts/errors.ts';

/** A selector the fake cannot parse. */
export class SelectorSyntaxError extends KproxyError {
  override readonly name = 'SelectorSyntaxError';
  override readonly code = 'KPROXY_FAKE_SELECTOR';
}

type LabelRequirement =
  | { readonly op: 'exists' | 'notExists'; readonly key: string }
  | { readonly op: 'equals' | 'notEquals'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'notIn'; readonly key: string; readonly values: readonly string[] };

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;

/** Splits on commas that are not inside `( )`. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  if (current.trim() !== '') terms.push(current.trim());
  return terms;
}

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key))
    throw new SelectorSyntaxError(`Invalid label selector: bad key "${key}" in "${selector}"`);
  return key;
}

function parseLabelTerm(term: string, selector: string): LabelRequirement {
  const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (set) {
    const values = (set[3] ?? '').split(',').map((v) => v.trim());
    return { op: set[2] === 'in' ? 'in' : 'notIn', key: checkKey(set[1] ?? '', selector), values };
  }
  if (term.startsWith('!')) return { op: 'notExists', key: checkKey(term.slice(1).trim(), selector) };
  const cmp = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (cmp) {
    const key = checkKey(cmp[1] ?? '', selector);
    return { op: cmp[2] === '!=' ? 'notEquals' : 'equals', key, value: cmp[3] ?? '' };
  }
  return { op: 'exists', key: checkKey(term, selector) };
}

/**
 * Tells whether labels match a label selector (`a`, `!a`, `a=b`, `a==b`, `a!=b`, `a in (b,c)`,
 * `a notin (b,c)`, comma-separated = all must hold).
 *
 * @param selector the selector as sent in `?labelSelector=`; empty matches everything
 * @param labels the object's labels
 * @returns true when every requirement holds
 * @throws SelectorSyntaxError for syntax the fake does not support
 * @example matchesLabelSelector('!service.kubernetes.io/headless', { app: 'web' }) // true
 */
export function matchesLabelSelector(selector: string, labels: Readonly<Record<string, string>>): boolean {
  return splitTerms(selector)
    .map((term) => parseLabelTerm(term, selector))
    .every((req) => {
      const value = labels[req.key];
      switch (req.op) {
        case 'exists':
          return value !== undefined;
        case 'notExists':
          return value === undefined;
        case 'equals':
          return value === req.value;
        case 'notEquals':
          return value !== req.value;
        case 'in':
          return value !== undefined && req.values.includes(value);
        case 'notIn':
          return value === undefined || !req.values.includes(value);
        default: {
          const never: never = req;
          throw new SelectorSyntaxError(`Unknown requirement: ${String(never)}`);
        }
      }
    });
}

/** Reads a dotted path (`metadata.name`, `spec.clusterIP`) as a string; missing fields read as ''. */
function fieldValue(object: unknown, path: string): string {
  let current: unknown = object;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return '';
    current = (current as Record<string, unknown>)[part];
  }
  return current === undefined || current === null ? '' : String(current);
}

/**
 * Tells whether an object matches a field selector (`path=value`, `path==value`, `path!=value`,
 * comma-separated).
 *
 * @param selector the selector as sent in `?fieldSelector=`; empty matches everything
 * @param object the object
 * @returns true when every term holds
 * @throws SelectorSyntaxError for syntax the fake does not support
 * @example matchesFieldSelector('spec.clusterIP!=None', { spec: { clusterIP: '10.0.0.1' } }) // true
 */
export function matchesFieldSelector(selector: string, object: unknown): boolean {
  return splitTerms(selector).every((term) => {
    const m = /^([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new SelectorSyntaxError(`Invalid field selector: "${selector}"`);
    const actual = fieldValue(object, m[1] ?? '');
    return m[2] === '!=' ? actual !== m[3] : actual === m[3];
  });
}
