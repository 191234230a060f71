import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Exec, type ExecResult, KernelError } from './exec.ts';
import { compareVersions, detectIptablesBackend, iptablesFor, probeIptablesTools } from './iptables.ts';
import { RestoreError } from './iptables_state.ts';

/** An exec that answers from a table of `command args` → result, recording calls. */
function fakeExec(answers: Record<string, Partial<ExecResult> | 'missing'>): Exec & { calls: string[] } {
  const calls: string[] = [];
  const exec = (async (
    command: string,
    args: readonly string[],
    options?: { input?: string | undefined },
  ) => {
    const key = [command, ...args].join(' ');
    calls.push(options?.input === undefined ? key : `${key} <<${options.input.length}`);
    const a = answers[key];
    if (a === 'missing') throw Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' });
    return { code: 0, stdout: '', stderr: '', ...a };
  }) as Exec & { calls: string[] };
  exec.calls = calls;
  return exec;
}

describe('detectIptablesBackend (as upstream iptables-wrapper)', () => {
  it("follows kubelet's marker chain in nft's mangle table", async () => {
    const exec = fakeExec({
      'iptables-nft-save -t mangle': { stdout: '*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n' },
    });
    assert.equal(await detectIptablesBackend(exec), 'nft');
  });

  it('follows a marker chain in the legacy tables, read without -t (which would create the table)', async () => {
    const exec = fakeExec({
      'iptables-legacy-save': { stdout: '*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n' },
    });
    assert.equal(await detectIptablesBackend(exec), 'legacy');
    assert.ok(!exec.calls.includes('iptables-legacy-save -t mangle'));
  });

  it('else picks the backend with more rules, nft on a tie', async () => {
    const legacy = { stdout: '*filter\n-A INPUT -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n' };
    assert.equal(await detectIptablesBackend(fakeExec({ 'iptables-legacy-save': legacy })), 'legacy');
    assert.equal(await detectIptablesBackend(fakeExec({})), 'nft');
  });

  it('uses the only backend installed, and fails clearly with none', async () => {
    assert.equal(
      await detectIptablesBackend(
        fakeExec({ 'iptables-nft-save -t mangle': 'missing', 'iptables-nft-save': 'missing' }),
      ),
      'legacy',
    );
    await assert.rejects(
      detectIptablesBackend(
        fakeExec({
          'iptables-nft-save -t mangle': 'missing',
          'iptables-nft-save': 'missing',
          'iptables-legacy-save': 'missing',
        }),
      ),
      /Neither iptables-legacy-save nor iptables-nft-save/,
    );
  });
});

describe('iptablesFor', () => {
  it('restores with the lock and --noflush, the input on stdin', async () => {
    const exec = fakeExec({});
    await iptablesFor(exec, 'legacy').restore('nat', '*nat\nCOMMIT\n', { noflush: true });
    assert.deepEqual(exec.calls, ['iptables-legacy-restore -w 5 --noflush <<12']);
  });

  it('runs the ip6tables tools of the backend for IPv6', async () => {
    const exec = fakeExec({ 'ip6tables-nft-save -t nat': { stdout: '*nat\nCOMMIT\n' } });
    const ip6t = iptablesFor(exec, 'nft', { family: 'IPv6' });
    await ip6t.restore('filter', '*filter\nCOMMIT\n', { noflush: true });
    assert.equal(await ip6t.save('nat'), '*nat\nCOMMIT\n');
    await ip6t.chainExists('filter', 'KUBE-FORWARD');
    assert.deepEqual(exec.calls, [
      'ip6tables-nft-restore -w 5 --noflush <<15',
      'ip6tables-nft-save -t nat',
      'ip6tables-nft -w 5 -t filter -S KUBE-FORWARD',
    ]);
  });

  it("reports iptables-restore's failing line with its text", async () => {
    const exec = fakeExec({
      'iptables-nft-restore -w 5 --noflush': { code: 1, stderr: 'iptables-nft-restore: line 2 failed\n' },
    });
    const error = await iptablesFor(exec, 'nft')
      .restore('nat', '*nat\n-A NOPE -j RETURN\nCOMMIT\n', { noflush: true })
      .catch((e: unknown) => e);
    assert.ok(error instanceof RestoreError);
    assert.equal(error.line, 2);
    assert.match(error.message, /-A NOPE -j RETURN/);
  });

  it('tells a missing chain (legacy and nft wording) from a failure', async () => {
    const exec = fakeExec({
      'iptables-legacy -w 5 -t mangle -S KUBE-PROXY-CANARY': {
        code: 1,
        stderr: 'iptables: No chain/target/match by that name.',
      },
      'iptables-nft -w 5 -t mangle -S KUBE-PROXY-CANARY': {
        code: 1,
        stderr: "chain `KUBE-PROXY-CANARY' in table `mangle' is incompatible, use 'nft' tool.",
      },
      'iptables-legacy -w 5 -t nat -S KUBE-PROXY-CANARY': {
        code: 4,
        stderr: 'Another app is currently holding the xtables lock',
      },
    });
    assert.equal(await iptablesFor(exec, 'legacy').chainExists('mangle', 'KUBE-PROXY-CANARY'), false);
    assert.equal(await iptablesFor(exec, 'nft').chainExists('mangle', 'KUBE-PROXY-CANARY'), false);
    await assert.rejects(iptablesFor(exec, 'legacy').chainExists('nat', 'KUBE-PROXY-CANARY'), /xtables lock/);
  });

  it('reads the version', async () => {
    const exec = fakeExec({ 'iptables-legacy --version': { stdout: 'iptables v1.8.9 (legacy)\n' } });
    assert.equal(await iptablesFor(exec, 'legacy').version(), '1.8.9');
    assert.ok(compareVersions('1.8.9', '1.6.2') > 0);
    assert.ok(compareVersions('1.6', '1.6.2') < 0);
  });
});

describe('probeIptablesTools', () => {
  it('runs iptables and iptables-restore of the backend and family, and returns the version', async () => {
    const exec = fakeExec({ 'ip6tables-nft --version': { stdout: 'ip6tables v1.8.9 (nf_tables)\n' } });
    assert.equal(await probeIptablesTools(exec, 'nft', { family: 'IPv6' }), '1.8.9');
    assert.deepEqual(exec.calls, ['ip6tables-nft --version', 'ip6tables-nft-restore --version']);
  });

  it('fails with the command when iptables-restore does not run', async () => {
    const exec = fakeExec({
      'iptables-legacy --version': { stdout: 'iptables v1.8.9 (legacy)\n' },
      'iptables-legacy-restore --version': { code: 127, stderr: 'not found\n' },
    });
    const error = await probeIptablesTools(exec, 'legacy').catch((e: unknown) => e);
    assert.ok(error instanceof KernelError);
    assert.equal(error.command, 'iptables-legacy-restore --version');
    assert.equal(error.exitCode, 127);
  });
});
