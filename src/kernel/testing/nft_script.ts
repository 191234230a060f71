/**
 * The `nft -f` dialect kproxy writes, parsed for the strict fake (nft_fake.ts): tokens with their place
 * (nft names `LINE:COL-COL` when it refuses something), commands split at newlines and `;` outside
 * braces, `#` comments, and each command as a value. Rule bodies and elements stay tokens here: what
 * they mean depends on the ruleset (a set's key type), so nft_fake_ruleset.ts reads them.
 *
 * Supported: `add|delete table`, `add|flush|delete chain`, `add rule`, `add|flush|delete set|map`,
 * `add|delete element`, for the families `ip` and `ip6`. Any other command word is a syntax error, as in
 * nft; a command nft has but kproxy never writes (`insert`, `create`, `flush ruleset`, `inet` tables, ...)
 * is refused with `kproxy fake: unsupported`, so that a test never passes on something the fake ignores.
 *
 * @module
 */
import type { NftBaseChainHook, NftFamily } from '../nft_listing.ts';

/** One token and where it is (1-based line and columns, `end` inclusive). */
export interface NftToken {
  /** A string's content without its quotes; `\n` for a line end. */
  readonly text: string;
  readonly kind: 'word' | 'string' | 'punct';
  readonly line: number;
  readonly col: number;
  readonly end: number;
}

/**
 * What nft would refuse, and where: thrown by the parser and the ruleset, caught by the fake, which
 * answers as nft does. Not an Error: it never leaves the fake.
 */
export class NftRefusal {
  /**
   * @param at the token (or first and last token) nft would point at
   * @param reason nft's words, e.g. `Could not process rule: No such file or directory`
   */
  constructor(
    readonly at: NftToken | readonly [NftToken, NftToken],
    readonly reason: string,
  ) {}
}

/** A base chain's declaration (`{ type filter hook input priority 0 ; }`); policy when given. */
export interface NftBaseChainSpec extends Omit<NftBaseChainHook, 'policy'> {
  readonly policy: string | undefined;
}

/** A set's or map's declaration. */
export interface NftContainerSpec {
  readonly keyType: readonly string[];
  /** `type` names the key types; `typeof` derives them from expressions (then checked by the parser). */
  readonly declaredBy: 'type' | 'typeof';
  /** `verdict` for a verdict map, `ipv4_addr . inet_service` for an endpoint map; undefined for a set. */
  readonly valueType: string | undefined;
  /** The transport protocol of a `typeof ... : ip daddr . PROTO dport` map's value. */
  readonly dataProtocol: string | undefined;
  readonly flags: readonly string[];
  readonly timeoutSeconds: number | undefined;
  readonly comment: string | undefined;
}

/** What every command names: its first token (for errors about the whole command) and its table. */
interface CommandBase {
  readonly tokens: readonly NftToken[];
  readonly family: NftFamily;
  readonly table: NftToken;
}

/** One command of a script. */
export type NftCommand =
  | (CommandBase & { readonly kind: 'add-table'; readonly comment: string | undefined })
  | (CommandBase & { readonly kind: 'delete-table' })
  | (CommandBase & {
      readonly kind: 'add-chain';
      readonly chain: NftToken;
      readonly base: NftBaseChainSpec | undefined;
      readonly comment: string | undefined;
    })
  | (CommandBase & { readonly kind: 'flush-chain' | 'delete-chain'; readonly chain: NftToken })
  | (CommandBase & {
      readonly kind: 'add-rule';
      readonly chain: NftToken;
      readonly body: readonly NftToken[];
    })
  | (CommandBase & {
      readonly kind: 'add-container';
      readonly container: 'set' | 'map';
      readonly name: NftToken;
      readonly spec: NftContainerSpec;
    })
  | (CommandBase & {
      readonly kind: 'flush-container' | 'delete-container';
      readonly container: 'set' | 'map';
      readonly name: NftToken;
    })
  | (CommandBase & {
      readonly kind: 'add-elements' | 'delete-elements';
      readonly name: NftToken;
      /** Each element's tokens (the list split at its commas). */
      readonly elements: readonly (readonly NftToken[])[];
    });

/**
 * Splits a script into tokens: words, `"strings"`, `{ } , ;`, line ends (`\n`) and the end of the
 * script (an empty punctuation token); `#` starts a comment.
 *
 * @param script the script
 * @returns the tokens
 * @throws {NftRefusal} for an unterminated string
 * @example tokenize('add table ip t\n').map((t) => t.text) // ['add', 'table', 'ip', 't', '\n', '']
 */
export function tokenize(script: string): NftToken[] {
  const tokens: NftToken[] = [];
  const lines = script.split('\n');
  // One sticky pattern per token kind: blanks, a comment, punctuation, a string (maybe unterminated), a word.
  const pattern = /(\s+)|(#.*)|([{},;])|("[^"]*"?)|([^\s{},;"#]+)/y;
  lines.forEach((text, index) => {
    const line = index + 1;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      const col = m.index + 1;
      const end = m.index + m[0].length;
      if (m[3] !== undefined) tokens.push({ text: m[3], kind: 'punct', line, col, end: col });
      else if (m[4] !== undefined) {
        const at = { text: '"', kind: 'punct', line, col, end: text.length } as const;
        if (m[4].length < 2 || !m[4].endsWith('"')) throw new NftRefusal(at, 'syntax error, unexpected junk');
        tokens.push({ text: m[4].slice(1, -1), kind: 'string', line, col, end });
      } else if (m[5] !== undefined) tokens.push({ text: m[5], kind: 'word', line, col, end });
    }
    // The last line's end is the end of the script, where nft points at an unfinished command.
    const last = index < lines.length - 1 ? '\n' : '';
    tokens.push({ text: last, kind: 'punct', line, col: text.length + 1, end: text.length + 1 });
  });
  return tokens;
}

/**
 * Groups tokens into commands: a line end or `;` outside braces ends one.
 *
 * @param tokens the script's tokens (from {@link tokenize})
 * @returns each command's tokens (line ends inside braces dropped)
 * @throws {NftRefusal} for unbalanced braces
 */
export function splitCommands(tokens: readonly NftToken[]): NftToken[][] {
  const commands: NftToken[][] = [];
  let current: NftToken[] = [];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === 'punct' && t.text === '') {
      if (depth > 0) throw new NftRefusal(t, "syntax error, unexpected end of file, expecting comma or '}'");
      continue;
    }
    if (t.kind === 'punct' && t.text === '{') depth++;
    if (t.kind === 'punct' && t.text === '}') {
      if (depth === 0) throw new NftRefusal(t, "syntax error, unexpected '}'");
      depth--;
    }
    const ends = t.kind === 'punct' && (t.text === '\n' || t.text === ';') && depth === 0;
    if (ends) {
      if (current.length > 0) commands.push(current);
      current = [];
    } else if (!(t.kind === 'punct' && t.text === '\n')) {
      current.push(t);
    }
  }
  if (current.length > 0) commands.push(current);
  return commands;
}

/** nft's identifiers (chain, set and table names), unquoted, as its scanner reads them. */
const IDENTIFIER = /^[A-Za-z_.][A-Za-z0-9_/.-]*$/;
/** The kernel's limit on a name (NFT_NAME_MAXLEN less its NUL). */
const NAME_MAX = 255;
/** nft's limit on a comment. */
export const COMMENT_MAX = 128;

/** The reason nft gives for a token it did not expect. */
export function unexpected(t: NftToken | undefined, last: NftToken): NftRefusal {
  if (t === undefined) return new NftRefusal(last, 'syntax error, unexpected newline');
  const what = t.kind === 'string' ? 'quoted string' : t.text;
  return new NftRefusal(t, `syntax error, unexpected ${what}`);
}

/** Refuses what nft parses but the fake does not model. */
export function unsupported(at: NftToken, what: string): NftRefusal {
  return new NftRefusal(at, `kproxy fake: unsupported ${what}`);
}

/** A cursor over one command's tokens. */
export class TokenCursor {
  #i = 0;
  constructor(readonly tokens: readonly NftToken[]) {}

  /** The next token, not consumed. */
  peek(offset = 0): NftToken | undefined {
    return this.tokens[this.#i + offset];
  }

  /** Whether every token was consumed. */
  get done(): boolean {
    return this.#i >= this.tokens.length;
  }

  /** The last token consumed (or the first, before any). */
  get last(): NftToken {
    return this.tokens[Math.max(0, this.#i - 1)]!;
  }

  /** Consumes the next token, whatever it is. */
  next(): NftToken {
    const t = this.tokens[this.#i];
    if (t === undefined) throw unexpected(undefined, this.last);
    this.#i++;
    return t;
  }

  /** Consumes the next token if its text is one of `texts`. */
  accept(...texts: string[]): NftToken | undefined {
    const t = this.peek();
    if (t === undefined || t.kind === 'string' || !texts.includes(t.text)) return undefined;
    this.#i++;
    return t;
  }

  /** Consumes the next token, which must be one of `texts`. */
  expect(...texts: string[]): NftToken {
    const t = this.accept(...texts);
    if (t === undefined) throw unexpected(this.peek(), this.last);
    return t;
  }

  /** Consumes a name: an identifier or a string, at most 255 bytes. */
  name(): NftToken {
    const t = this.next();
    if (t.kind === 'punct' || (t.kind === 'word' && !IDENTIFIER.test(t.text))) throw unexpected(t, t);
    if (Buffer.byteLength(t.text) > NAME_MAX)
      throw new NftRefusal(t, 'Could not process rule: Numerical result out of range');
    return t;
  }

  /** Consumes a string (a comment), at most 128 characters. */
  comment(): string {
    const t = this.next();
    if (t.kind !== 'string') throw unexpected(t, t);
    if (t.text.length > COMMENT_MAX)
      throw new NftRefusal(t, `comment too long, ${COMMENT_MAX} characters maximum allowed`);
    return t.text;
  }

  /** Consumes the rest of the tokens. */
  rest(): NftToken[] {
    const rest = this.tokens.slice(this.#i);
    this.#i = this.tokens.length;
    return rest;
  }

  /** Refuses a token left over. */
  end(): void {
    if (!this.done) throw unexpected(this.peek(), this.last);
  }
}

/** Named priorities (nft's `priority dstnat` and the like), as numbers. */
const PRIORITY_NAMES: Readonly<Record<string, number>> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

/**
 * A duration as nft writes it (`10800s`, `3h`, `1h30m`, `100ms`; a unit is required), in whole seconds.
 *
 * @param t the token
 * @returns seconds
 * @throws {NftRefusal} when it is not a duration
 */
export function durationSeconds(t: NftToken): number {
  const units: Readonly<Record<string, number>> = { d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };
  let rest = t.text;
  let total = 0;
  // A bare number is no duration to nft's parser (`timeout 10` is a syntax error).
  if (rest === '' || /^\d+$/.test(rest)) throw unexpected(t, t);
  while (rest !== '') {
    const m = /^(\d+)(ms|d|h|m|s)/.exec(rest);
    if (m === null) throw new NftRefusal(t, `Wrong time format, expecting d, h, m, s or ms: ${t.text}`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.floor(total);
}

/** `{ ... }` of a declaration, as its `;`-separated statements (each a non-empty token list). */
function declarationBlock(c: TokenCursor): NftToken[][] {
  if (c.accept('{') === undefined) return [];
  const statements: NftToken[][] = [[]];
  for (let t = c.next(); !(t.kind === 'punct' && t.text === '}'); t = c.next()) {
    if (t.kind === 'punct' && t.text === ';') statements.push([]);
    else statements.at(-1)!.push(t);
  }
  return statements.filter((s) => s.length > 0);
}

function tableDeclaration(block: NftToken[][]): string | undefined {
  let comment: string | undefined;
  for (const s of block) {
    const c = new TokenCursor(s);
    const word = c.next();
    if (word.text === 'comment') comment = c.comment();
    else if (word.text === 'flags') throw unsupported(word, 'table flags');
    else throw unexpected(word, word);
    c.end();
  }
  return comment;
}

function chainDeclaration(block: NftToken[][]): {
  base: NftBaseChainSpec | undefined;
  comment: string | undefined;
} {
  let base: Omit<NftBaseChainSpec, 'policy'> | undefined;
  let policy: string | undefined;
  let comment: string | undefined;
  for (const s of block) {
    const c = new TokenCursor(s);
    const word = c.next();
    if (word.text === 'type') {
      const type = c.expect('filter', 'nat', 'route').text;
      c.expect('hook');
      const hook = c.expect('prerouting', 'input', 'forward', 'output', 'postrouting', 'ingress').text;
      if (hook === 'ingress') throw unsupported(s[3]!, 'ingress hook');
      c.expect('priority');
      const p = c.next();
      const priority = /^-?\d+$/.test(p.text) ? Number(p.text) : PRIORITY_NAMES[p.text];
      if (priority === undefined || p.kind !== 'word') throw unexpected(p, p);
      base = { type, hook, priority };
    } else if (word.text === 'policy') policy = c.expect('accept', 'drop').text;
    else if (word.text === 'comment') comment = c.comment();
    else throw unexpected(word, word);
    c.end();
  }
  if (policy !== undefined && base === undefined)
    throw new NftRefusal(block[0]![0]!, 'policy without a hook');
  return { base: base === undefined ? undefined : { ...base, policy }, comment };
}

const SET_FLAGS = new Set(['constant', 'interval', 'timeout', 'dynamic']);

/**
 * The `typeof` kproxy declares its endpoint maps with: `numgen random mod N : ip daddr` or `numgen random
 * mod N : ip daddr . PROTO dport` (the key is numgen's 32-bit integer, the value an address, or an
 * address and a port).
 */
function typeofDeclaration(
  kind: 'set' | 'map',
  c: TokenCursor,
): { keyType: string[]; valueType: string | undefined; dataProtocol: string | undefined } {
  const head = c.expect('numgen');
  c.expect('random', 'inc');
  c.expect('mod');
  if (!/^[1-9]\d*$/.test(c.next().text)) throw unexpected(c.last, c.last);
  if (kind === 'set') throw unsupported(head, 'typeof set');
  c.expect(':');
  const address = c.expect('ip', 'ip6');
  c.expect('daddr');
  const addressType = address.text === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
  if (c.peek()?.text !== '.')
    return { keyType: ['integer'], valueType: addressType, dataProtocol: undefined };
  c.expect('.');
  const protocol = c.expect('tcp', 'udp', 'sctp', 'th');
  if (protocol.text === 'th') {
    // nft 1.0.6 declares it, but then fails to read the map back once a rule maps through it.
    throw unsupported(protocol, 'typeof th dport (nft 1.0.6 cannot list it back)');
  }
  c.expect('dport');
  return { keyType: ['integer'], valueType: `${addressType} . inet_service`, dataProtocol: protocol.text };
}

function containerDeclaration(kind: 'set' | 'map', block: NftToken[][], at: NftToken): NftContainerSpec {
  let keyType: string[] | undefined;
  let declaredBy: NftContainerSpec['declaredBy'] = 'type';
  let dataProtocol: string | undefined;
  let valueType: string | undefined;
  let flags: string[] = [];
  let timeoutSeconds: number | undefined;
  let comment: string | undefined;
  for (const s of block) {
    const c = new TokenCursor(s);
    const word = c.next();
    switch (word.text) {
      case 'type': {
        keyType = [c.next().text];
        while (c.accept('.') !== undefined) keyType.push(c.next().text);
        if (kind === 'map') {
          c.expect(':');
          valueType = c.next().text;
        }
        break;
      }
      case 'typeof':
        ({ keyType, valueType, dataProtocol } = typeofDeclaration(kind, c));
        declaredBy = 'typeof';
        break;
      case 'flags':
        flags = [c.next().text];
        while (c.accept(',') !== undefined) flags.push(c.next().text);
        for (const [i, f] of flags.entries()) if (!SET_FLAGS.has(f)) throw unexpected(s[1 + 2 * i], word);
        break;
      case 'timeout':
        timeoutSeconds = durationSeconds(c.next());
        break;
      case 'size':
        if (!/^\d+$/.test(c.next().text)) throw unexpected(c.last, c.last);
        break;
      case 'comment':
        comment = c.comment();
        break;
      default:
        throw unexpected(word, word);
    }
    c.end();
  }
  if (keyType === undefined) throw new NftRefusal(at, `${kind} definition does not specify key`);
  if (timeoutSeconds !== undefined && !flags.includes('timeout')) flags = [...flags, 'timeout'];
  return { keyType, declaredBy, valueType, dataProtocol, flags, timeoutSeconds, comment };
}

/** The elements of `{ a, b, ... }`, each as its tokens. */
function elementList(c: TokenCursor): NftToken[][] {
  const open = c.expect('{');
  const elements: NftToken[][] = [[]];
  let depth = 0;
  for (let t = c.next(); depth > 0 || !(t.kind === 'punct' && t.text === '}'); t = c.next()) {
    if (t.kind === 'punct' && t.text === ',' && depth === 0) elements.push([]);
    else {
      if (t.kind === 'punct' && t.text === '{') depth++;
      if (t.kind === 'punct' && t.text === '}') depth--;
      elements.at(-1)!.push(t);
    }
  }
  if (elements.some((e) => e.length === 0)) throw unexpected(c.last, open);
  return elements;
}

/**
 * Parses one command.
 *
 * @param tokens the command's tokens (from {@link splitCommands})
 * @returns the command
 * @throws {NftRefusal} for what nft would not parse, or what the fake does not model
 */
export function parseCommand(tokens: readonly NftToken[]): NftCommand {
  const c = new TokenCursor(tokens);
  const verb = c.next();
  if (verb.kind !== 'word') throw unexpected(verb, verb);
  if (['create', 'insert', 'replace', 'list', 'reset', 'rename', 'destroy', 'describe'].includes(verb.text)) {
    throw unsupported(verb, `command ${verb.text}`);
  }
  if (verb.text !== 'add' && verb.text !== 'delete' && verb.text !== 'flush')
    throw unexpected(c.peek(), verb);
  const object = c.next();
  if (object.text === 'ruleset' || (object.text === 'table' && verb.text === 'flush')) {
    throw unsupported(object, `${verb.text} ${object.text}`);
  }
  if (object.text === 'rule' && verb.text !== 'add') throw unsupported(object, `${verb.text} rule`);
  if (object.text === 'element' && verb.text === 'flush') throw unexpected(object, object);
  if (!['table', 'chain', 'rule', 'set', 'map', 'element'].includes(object.text))
    throw unexpected(object, verb);
  const familyToken = c.next();
  if (familyToken.text !== 'ip' && familyToken.text !== 'ip6') {
    throw ['inet', 'arp', 'bridge', 'netdev'].includes(familyToken.text)
      ? unsupported(familyToken, `family ${familyToken.text}`)
      : unsupported(familyToken, 'command without a family');
  }
  const family: NftFamily = familyToken.text === 'ip6' ? 'ip6' : 'ip';
  const table = c.name();
  const base = { tokens, family, table } as const;
  if (object.text === 'table') {
    if (verb.text === 'delete') {
      c.end();
      return { ...base, kind: 'delete-table' };
    }
    const comment = tableDeclaration(declarationBlock(c));
    c.end();
    return { ...base, kind: 'add-table', comment };
  }
  const name = c.name();
  switch (object.text) {
    case 'chain': {
      if (verb.text === 'add') {
        const { base: hook, comment } = chainDeclaration(declarationBlock(c));
        c.end();
        return { ...base, kind: 'add-chain', chain: name, base: hook, comment };
      }
      c.end();
      return { ...base, kind: verb.text === 'flush' ? 'flush-chain' : 'delete-chain', chain: name };
    }
    case 'rule': {
      const body = c.rest();
      if (body.length === 0) throw unexpected(undefined, name);
      return { ...base, kind: 'add-rule', chain: name, body };
    }
    case 'set':
    case 'map': {
      const kind = object.text;
      if (verb.text === 'add') {
        if (c.peek()?.text !== '{') throw unexpected(c.peek(), name);
        const spec = containerDeclaration(kind, declarationBlock(c), name);
        c.end();
        return { ...base, kind: 'add-container', container: kind, name, spec };
      }
      c.end();
      return {
        ...base,
        kind: verb.text === 'flush' ? 'flush-container' : 'delete-container',
        container: kind,
        name,
      };
    }
    default: {
      const elements = elementList(c);
      c.end();
      return { ...base, kind: verb.text === 'add' ? 'add-elements' : 'delete-elements', name, elements };
    }
  }
}
