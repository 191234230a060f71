/**
 * The iptables-restore text format, both ways: rendering rules kproxy plans (with quoting that no object
 * name can break out of) and tokenizing lines the way iptables-restore itself does, so that the strict
 * fake, the tracer and iptables-save parsing all agree with the real tool.
 *
 * A rule is kept as its argument text after `-A CHAIN ` (e.g. `-d 10.0.0.1/32 -p tcp -m tcp --dport 80
 * -j KUBE-SVC-X`): compact at 100 000 rules, and exactly what `iptables-save` prints.
 *
 * @module
 */
import { KproxyError } from '../contracts/errors.ts';

/** The tables kproxy reads or writes. */
export type IptablesTable = 'filter' | 'nat' | 'mangle' | 'raw';

/** The built-in chains of each table, in iptables-save order. */
export const BUILTIN_CHAINS: Readonly<Record<IptablesTable, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

/**
 * Tells whether a chain is built into a table.
 *
 * @param table the table
 * @param chain the chain name
 * @returns true for e.g. nat PREROUTING
 * @example isBuiltinChain('nat', 'POSTROUTING') // true
 */
export function isBuiltinChain(table: IptablesTable, chain: string): boolean {
  return BUILTIN_CHAINS[table].includes(chain);
}

/** One chain with its rules (each the text after `-A CHAIN `). */
export interface ChainRules {
  readonly name: string;
  readonly rules: readonly string[];
}

/** One table's chains, in the order they are declared. */
export interface TableRules {
  readonly table: IptablesTable;
  readonly chains: readonly ChainRules[];
}

/** iptables limits chain names to 28 characters (XT_EXTENSION_MAXNAMELEN - 1 minus the margin). */
const CHAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}$/;

/**
 * Checks a chain name kproxy is about to write.
 *
 * @param name the chain name
 * @returns true when it is 1-28 characters of letters, digits, `_`, `.` and `-` (not starting with `-`)
 * @example isValidChainName('KUBE-SVC-ABCDEFGHIJKLMNOP') // true
 */
export function isValidChainName(name: string): boolean {
  return CHAIN_NAME.test(name);
}

/** Characters that never need quoting in a restore line. */
// Brackets: ip6tables writes an IPv6 DNAT target as [addr]:port, unquoted.
const PLAIN_TOKEN = /^[A-Za-z0-9_.:/,!=+@%[\]-]+$/;

/**
 * Quotes one argument for an iptables-restore line. Inside double quotes, iptables-restore takes a
 * backslash as an escape for the next character, so `"` and `\` are escaped; line breaks cannot be
 * represented at all and are replaced, so that no value can start a new restore line.
 *
 * @param value the argument
 * @returns the value as is when it is plain, else double-quoted
 * @example restoreToken('ns/svc:p80 cluster IP') // '"ns/svc:p80 cluster IP"'
 */
export function restoreToken(value: string): string {
  if (value !== '' && PLAIN_TOKEN.test(value)) return value;
  const safe = value.replace(/[\r\n\0]/g, ' ');
  return `"${safe.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The comment match truncates at 255 bytes (XT_MAX_COMMENT_LEN 256 with the NUL). */
const MAX_COMMENT_BYTES = 255;

/**
 * Makes text from objects safe for `-m comment --comment`: printable ASCII only (anything else becomes
 * `?`), no quotes or backslashes (so that iptables-save prints it back unchanged), at most 255 bytes.
 *
 * @param text free text, e.g. a service port name
 * @returns the sanitized comment (not yet quoted)
 * @example sanitizeComment('ns/we"b:http') // 'ns/we?b:http'
 */
export function sanitizeComment(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]|["\\]/g, '?');
  return clean.length > MAX_COMMENT_BYTES ? clean.slice(0, MAX_COMMENT_BYTES) : clean;
}

/**
 * The `-m comment --comment TEXT` fragment of a rule, sanitized and quoted.
 *
 * @param text the comment
 * @returns e.g. `-m comment --comment "ns/svc:p80 cluster IP"`
 * @example commentMatch('ns1/svc1:p80') // '-m comment --comment ns1/svc1:p80'
 */
export function commentMatch(text: string): string {
  return `-m comment --comment ${restoreToken(sanitizeComment(text))}`;
}

/**
 * Splits one restore line into arguments exactly as iptables-restore does: whitespace separates,
 * double quotes group, and inside quotes a backslash escapes the next character.
 *
 * @param line one line of restore input (or of iptables-save output)
 * @returns its arguments
 * @example tokenizeRestoreLine('-A X -m comment --comment "a b" -j Y') // ['-A','X','-m','comment','--comment','a b','-j','Y']
 */
export function tokenizeRestoreLine(line: string): string[] {
  const out: string[] = [];
  let current = '';
  let inToken = false;
  let quoted = false;
  let escaped = false;
  for (const ch of line) {
    if (quoted) {
      if (escaped) {
        current += ch;
        escaped = false;
      } else if (ch === '\\') {
        escaped = true;
      } else if (ch === '"') {
        quoted = false;
      } else {
        current += ch;
      }
      continue;
    }
    if (ch === '"') {
      quoted = true;
      inToken = true;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      if (inToken) out.push(current);
      current = '';
      inToken = false;
      continue;
    }
    current += ch;
    inToken = true;
  }
  if (quoted) throw new RestoreSyntaxError(`Unterminated quote: ${line}`);
  if (inToken) out.push(current);
  return out;
}

/** A restore line cannot be tokenized. */
export class RestoreSyntaxError extends KproxyError {
  override readonly name = 'RestoreSyntaxError';
  override readonly code = 'KPROXY_IPTABLES_RESTORE_SYNTAX';
}

/**
 * Renders tables as complete iptables-restore input: a `:CHAIN - [0:0]` line for every chain (which,
 * with `--noflush`, creates or flushes exactly these chains and leaves every other chain alone), then
 * every rule, then COMMIT. Built-in chains are declared with their policy untouched (`ACCEPT` is only
 * written for a table restored without `--noflush`, which kproxy never does), so they are not listed.
 *
 * @param tables the tables, in the order to write them
 * @returns the restore input, one table after the other
 * @example renderRestore([{ table: 'nat', chains: [{ name: 'KUBE-MARK-MASQ', rules: ['-j MARK --or-mark 0x4000'] }] }])
 */
export function renderRestore(tables: readonly TableRules[]): string {
  const parts: string[] = [];
  for (const t of tables) {
    parts.push(`*${t.table}\n`);
    for (const c of t.chains) if (!isBuiltinChain(t.table, c.name)) parts.push(`:${c.name} - [0:0]\n`);
    for (const c of t.chains) {
      const prefix = `-A ${c.name} `;
      for (const r of c.rules) parts.push(prefix + r + '\n');
    }
    parts.push('COMMIT\n');
  }
  return parts.join('');
}
