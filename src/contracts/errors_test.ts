import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { KernelError } from '../kernel/exec.ts';
import { IpsetConflictError } from '../kernel/ipset.ts';
import { IptablesHostError } from '../kernel/iptables.ts';
import { RestoreSyntaxError } from '../kernel/iptables_restore.ts';
import { RuleSyntaxError } from '../kernel/iptables_rule.ts';
import { RestoreError } from '../kernel/iptables_state.ts';
import { IpvsParseError } from '../kernel/ipvs.ts';
import { GuestError } from '../lab/guest/guest_error.ts';
import { LabError } from '../lab/lab_error.ts';
import type { ProblemCode } from '../model/problem.ts';
import { isKproxyError, isKproxyErrorCode, KPROXY_ERROR_CODES, KproxyError } from './errors.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DOC = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');

// Every problem code, checked by the compiler against the union: a new ProblemCode fails to compile here.
const PROBLEM_CODES = Object.keys({
  KPROXY_PARSE: true,
  KPROXY_SHAPE: true,
  KPROXY_FIELD: true,
  KPROXY_DUPLICATE: true,
  KPROXY_UNSUPPORTED: true,
} satisfies Record<ProblemCode, true>);

// Error classes that never leave a strict fake: the fake catches them and answers with an exit code.
const PRIVATE_FAKE_ERRORS = new Set(['IpsetFailure', 'IpFailure', 'IpvsadmError']);

/** The rows of the first table under `## heading`, as cells (backticks kept). */
function tableRows(heading: string): string[][] {
  const start = DOC.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `docs/errors.md has no "## ${heading}" section`);
  const rest = DOC.slice(start + heading.length + 5);
  const section = rest.slice(0, rest.search(/\n## |$/));
  const lines = section.split('\n').filter((l) => l.startsWith('|'));
  return lines.slice(2).map((l) =>
    l
      .slice(1, -1)
      .split('|')
      .map((c) => c.trim()),
  );
}

/** A code cell such as `` `KPROXY_KERNEL` `` without its backticks. */
function unquote(cell: string | undefined): string {
  const m = /^`([A-Za-z_]+)`$/.exec(cell ?? '');
  assert.ok(m, `not a single code in backticks: ${cell}`);
  return m[1]!;
}

interface DeclaredErrorClass {
  readonly file: string;
  readonly className: string;
  readonly base: string;
  readonly name: string | undefined;
  readonly code: string | undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every `class X extends ...Error` in src/ and bench/, with the `name` and `code` fields it declares. */
function declaredErrorClasses(): DeclaredErrorClass[] {
  const found: DeclaredErrorClass[] = [];
  for (const path of [...sourceFiles(join(ROOT, 'src')), ...sourceFiles(join(ROOT, 'bench'))]) {
    const text = readFileSync(path, 'utf8');
    for (const m of text.matchAll(/^(?:export )?class (\w+) extends (\w*Error)\b[^{]*\{/gm)) {
      // The class's own fields come first; the body ends at the first line that is a lone `}`.
      const body = text.slice(m.index + m[0].length, text.indexOf('\n}', m.index));
      found.push({
        file: relative(ROOT, path),
        className: m[1]!,
        base: m[2]!,
        name: /override readonly name = '(\w+)'/.exec(body)?.[1],
        code: /override readonly code = '(\w+)'/.exec(body)?.[1],
      });
    }
  }
  return found;
}

describe('error codes', () => {
  it('docs/errors.md lists exactly the codes of the union, each once', () => {
    const documented = tableRows('Error codes').map((row) => unquote(row[0]));
    assert.deepEqual([...documented].sort(), [...KPROXY_ERROR_CODES].sort());
    assert.equal(new Set(documented).size, documented.length);
  });

  it('docs/errors.md lists exactly the problem codes of the model', () => {
    const documented = tableRows('Problem codes').map((row) => unquote(row[0]));
    assert.deepEqual([...documented].sort(), [...PROBLEM_CODES].sort());
  });

  it('every table row says what to do', () => {
    for (const row of [...tableRows('Error codes'), ...tableRows('Problem codes')]) {
      assert.ok(
        row.every((cell) => cell !== ''),
        `empty cell in ${row.join(' | ')}`,
      );
    }
  });

  it('error codes and problem codes do not overlap', () => {
    for (const code of PROBLEM_CODES) assert.equal(isKproxyErrorCode(code), false, code);
  });

  it('every error class extends KproxyError with its own name and a code of the union, as documented', () => {
    const documentedClass = new Map(
      tableRows('Error codes').map((row) => [unquote(row[0]), unquote(row[1])]),
    );
    const classes = declaredErrorClasses().filter((c) => !PRIVATE_FAKE_ERRORS.has(c.className));
    const used = new Map<string, string>();
    for (const c of classes) {
      const where = `${c.file}: ${c.className}`;
      assert.equal(c.base, 'KproxyError', `${where} must extend KproxyError`);
      assert.equal(c.name, c.className, `${where} must set override readonly name = '${c.className}'`);
      assert.ok(
        c.code !== undefined && isKproxyErrorCode(c.code),
        `${where}: code ${c.code} is not in the union`,
      );
      assert.equal(
        used.get(c.code),
        undefined,
        `${where}: code ${c.code} is used by ${used.get(c.code)} too`,
      );
      used.set(c.code, c.className);
      assert.equal(documentedClass.get(c.code), c.className, `${where}: docs/errors.md gives another class`);
    }
    assert.deepEqual([...used.keys()].sort(), [...KPROXY_ERROR_CODES].sort(), 'a code no class uses');
  });
});

describe('KproxyError', () => {
  const cause = new Error('spawn iptables-restore ENOENT');
  const errors: readonly KproxyError[] = [
    new KernelError('iptables-restore --noflush', -1, String(cause), { cause }),
    new IptablesHostError('Neither iptables-legacy-save nor iptables-nft-save runs on this host', { cause }),
    new RestoreError(3, 'line 3 failed', { cause }),
    new RestoreSyntaxError('Unterminated quote: -A X "a', { cause }),
    new RuleSyntaxError('Unknown target NOPE', { cause }),
    new IpsetConflictError('Set exists with another type: KUBE-CLUSTER-IP', { cause }),
    new IpvsParseError('Cannot parse ipvsadm output: "?"', { cause }),
    new LabError('Cannot build lab kpt-x-1: boom', { cause }),
    new GuestError('The guest ended without a result: true', '', { cause }),
  ];

  for (const error of errors) {
    it(`${error.name}: is a KproxyError with a code of the union and keeps its cause`, () => {
      assert.ok(error instanceof KproxyError);
      assert.ok(error instanceof Error);
      assert.ok(isKproxyError(error));
      assert.equal(error.name, error.constructor.name);
      assert.ok(isKproxyErrorCode(error.code), error.code);
      assert.equal(error.cause, cause);
      assert.match(String(error.stack), new RegExp(`^${error.name}: `));
    });
  }

  it('tells other errors apart', () => {
    assert.equal(isKproxyError(new Error('x')), false);
    assert.equal(isKproxyError({ name: 'KernelError', code: 'KPROXY_KERNEL', message: 'x' }), false);
    assert.equal(isKproxyError(undefined), false);
    assert.equal(isKproxyErrorCode('KPROXY_NOPE'), false);
  });

  it('has no cause unless given one', () => {
    assert.equal(new LabError('Bad lab tag: "X"').cause, undefined);
    assert.equal(Object.hasOwn(new LabError('Bad lab tag: "X"'), 'cause'), false);
  });
});
