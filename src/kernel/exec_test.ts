import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KproxyError } from '../contracts/errors.ts';
import { createExec, type Exec, KernelError, mustExec } from './exec.ts';

/** An exec that answers every command with one result, and remembers what it ran. */
function answering(code: number, stderr = '', stdout = ''): Exec & { ran: string[] } {
  const ran: string[] = [];
  const exec = async (command: string, args: readonly string[]) => {
    ran.push([command, ...args].join(' '));
    return { code, stdout, stderr };
  };
  return Object.assign(exec, { ran });
}

describe('mustExec', () => {
  it('returns the result of a command that exits 0', async () => {
    const exec = answering(0, '', 'v1.8.9\n');
    const result = await mustExec(exec, 'iptables', ['--version']);
    assert.equal(result.stdout, 'v1.8.9\n');
    assert.deepEqual(exec.ran, ['iptables --version']);
  });

  it('throws a KernelError with the command, exit code, stderr and its first five lines', async () => {
    const stderr = 'one\n\ntwo\nthree\nfour\nfive\nsix\n';
    const error = await mustExec(answering(2, stderr), 'ipset', ['restore']).then(
      () => assert.fail('expected a KernelError'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof KernelError);
    assert.ok(error instanceof KproxyError);
    assert.equal(error.code, 'KPROXY_KERNEL');
    assert.equal(error.name, 'KernelError');
    assert.equal(error.command, 'ipset restore');
    assert.equal(error.exitCode, 2);
    assert.equal(error.stderr, stderr);
    assert.equal(error.message, 'Command failed: ipset restore (exit 2): one | two | three | four | five');
  });
});

describe('createExec', () => {
  it('rejects with a KernelError (exit -1) that keeps the spawn error as cause', async () => {
    const exec = createExec();
    const error = await exec('kproxy-no-such-program', ['--version']).then(
      () => assert.fail('expected a KernelError'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof KernelError);
    assert.equal(error.exitCode, -1);
    assert.equal(error.command, 'kproxy-no-such-program --version');
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOENT');
    assert.match(error.message, /^Command failed: kproxy-no-such-program --version \(exit -1\): .*ENOENT/);
  });

  it('resolves with the exit code, stdout and stderr of a command that fails', async () => {
    const result = await createExec()(process.execPath, [
      '-e',
      'process.stdout.write("out"); process.stderr.write("err"); process.exit(3)',
    ]);
    assert.deepEqual(result, { code: 3, stdout: 'out', stderr: 'err' });
  });
});
