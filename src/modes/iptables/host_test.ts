/**
 * The iptables mode's host check, over an exec that answers the tools' version probes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Exec, ExecResult } from '../../kernel/exec.ts';
import { IptablesHostError } from '../../kernel/iptables.ts';
import { planOptions } from '../common/testing/fixtures.ts';
import type { ProxierDeps } from '../mode.ts';
import { checkIptablesHost } from './host.ts';

/** Deps whose exec answers `command args` from a table (anything else: exit 1), recording the calls. */
function deps(answers: Record<string, Partial<ExecResult>>): ProxierDeps & { calls: string[] } {
  const calls: string[] = [];
  const exec: Exec = async (command, args) => {
    const line = [command, ...args].join(' ');
    calls.push(line);
    return {
      code: 0,
      stdout: '',
      stderr: '',
      ...(answers[line] ?? { code: 1, stderr: `unexpected: ${line}` }),
    };
  };
  return {
    options: planOptions(),
    exec,
    logger: pino({ level: 'silent' }),
    iptablesBackend: 'legacy',
    calls,
  };
}

describe('checkIptablesHost', () => {
  it('passes when iptables and iptables-restore of the backend run, in 1.6.2 or later', async () => {
    const d = deps({
      'iptables-legacy --version': { stdout: 'iptables v1.8.9 (legacy)\n' },
      'iptables-legacy-restore --version': { stdout: 'iptables-restore v1.8.9 (legacy)\n' },
    });
    await checkIptablesHost(d);
    assert.deepEqual(d.calls, ['iptables-legacy --version', 'iptables-legacy-restore --version']);
  });

  it('names the restore tool when a tool does not run', async () => {
    const d = deps({ 'iptables-legacy --version': { stdout: 'iptables v1.8.9 (legacy)\n' } });
    await assert.rejects(checkIptablesHost(d), (error: unknown) => {
      assert.ok(error instanceof IptablesHostError);
      assert.match(
        error.message,
        /^The iptables mode needs iptables-legacy-restore: Command failed: iptables-legacy-restore --version/,
      );
      return true;
    });
  });

  it('checks ip6tables, ip6tables-restore and the IPv6 nat table for the IPv6 Proxier', async () => {
    const d = deps({
      'ip6tables-legacy --version': { stdout: 'ip6tables v1.8.9 (legacy)\n' },
      'ip6tables-legacy-restore --version': { stdout: 'ip6tables-restore v1.8.9 (legacy)\n' },
      'ip6tables-legacy -w 5 -t nat -S POSTROUTING': { stdout: '-P POSTROUTING ACCEPT\n' },
    });
    await checkIptablesHost({ ...d, options: planOptions({ ipFamily: 'IPv6' }) });
    assert.deepEqual(d.calls, [
      'ip6tables-legacy --version',
      'ip6tables-legacy-restore --version',
      'ip6tables-legacy -w 5 -t nat -S POSTROUTING',
    ]);
  });

  it('says clearly that IPv6 cannot be served when ip6tables is missing', async () => {
    const d = deps({});
    await assert.rejects(
      checkIptablesHost({ ...d, options: planOptions({ ipFamily: 'IPv6' }) }),
      (error: unknown) => {
        assert.ok(error instanceof IptablesHostError);
        assert.match(error.message, /^The iptables mode needs ip6tables-legacy-restore to serve IPv6: /);
        return true;
      },
    );
  });

  it('says clearly that IPv6 cannot be served without the IPv6 nat table', async () => {
    const d = deps({
      'ip6tables-legacy --version': { stdout: 'ip6tables v1.8.9 (legacy)\n' },
      'ip6tables-legacy-restore --version': { stdout: 'ip6tables-restore v1.8.9 (legacy)\n' },
      'ip6tables-legacy -w 5 -t nat -S POSTROUTING': {
        code: 3,
        stderr: "ip6tables v1.8.9 (legacy): can't initialize ip6tables table `nat': Table does not exist\n",
      },
    });
    await assert.rejects(
      checkIptablesHost({ ...d, options: planOptions({ ipFamily: 'IPv6' }) }),
      /^IptablesHostError: The iptables mode cannot use the kernel's IPv6 nat table \(ip6table_nat\) to serve IPv6: /,
    );
  });

  it('refuses iptables older than 1.6.2', async () => {
    const d = deps({
      'iptables-legacy --version': { stdout: 'iptables v1.4.21\n' },
      'iptables-legacy-restore --version': { stdout: 'iptables-restore v1.4.21\n' },
    });
    await assert.rejects(
      checkIptablesHost(d),
      /^IptablesHostError: The iptables mode needs iptables 1\.6\.2 or later: found 1\.4\.21$/,
    );
  });
});
