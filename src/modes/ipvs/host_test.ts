/**
 * The ipvs mode's host check against a strict fake host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelError } from '../../kernel/exec.ts';
import { createFakeIpvsHost } from '../../kernel/testing/ipvs_fake_host.ts';
import { planOptions } from '../../model/testing/fixtures.ts';
import { IpvsUnavailableError } from './host.ts';
import { ipvsMode } from './index.ts';
import { proxierDeps } from './testing/fixtures.ts';

describe('ipvs host check', () => {
  it('checks the host: passes with IPVS, and says clearly when IPVS is missing', async () => {
    const host = createFakeIpvsHost();
    host.netlink.addInterface('eth0', ['198.18.0.100']);
    await ipvsMode.checkHost(proxierDeps(host.exec));
    assert.deepEqual(host.ipvs.table(), [], 'the probe virtual server is gone');
    const noIpvs = proxierDeps(async (command, args, options) =>
      command === 'ipvsadm'
        ? {
            code: 1,
            stdout: '',
            stderr:
              "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n",
          }
        : host.exec(command, args, options),
    );
    await assert.rejects(ipvsMode.checkHost(noIpvs), (error: unknown) => {
      assert.ok(error instanceof IpvsUnavailableError);
      assert.equal(error.code, 'KPROXY_IPVS_UNAVAILABLE');
      assert.match(
        error.message,
        /^IPVS is not available on this host: cannot list the IPVS table .*Protocol not available/,
      );
      return true;
    });
    await ipvsMode.cleanup(noIpvs);
  });

  it('checks IPv6 for the IPv6 family: ip6tables and an IPv6 virtual server; says clearly which is missing', async () => {
    const host = createFakeIpvsHost();
    const restored: string[] = [];
    const v6 = proxierDeps(
      async (command, args, options) => {
        if (command === 'ipvsadm' && args[0] === '-R') restored.push(options?.input ?? '');
        return host.exec(command, args, options);
      },
      planOptions({ ipFamily: 'IPv6' }),
    );
    await ipvsMode.checkHost(v6);
    assert.ok(
      restored.some((input) => input.startsWith('-A -t [2001:2:0:ffff::fffe]:20000 -s rr')),
      restored.join(),
    );
    assert.deepEqual(host.ipvs.table(), [], 'the probe virtual server is gone');
    const noIp6tables = proxierDeps(
      async (command, args, options) => {
        if (command.startsWith('ip6tables')) throw new KernelError(command, -1, `spawn ${command} ENOENT`);
        return host.exec(command, args, options);
      },
      planOptions({ ipFamily: 'IPv6' }),
    );
    await ipvsMode.checkHost({ ...noIp6tables, options: planOptions() });
    await assert.rejects(ipvsMode.checkHost(noIp6tables), (error: unknown) => {
      assert.ok(error instanceof IpvsUnavailableError);
      assert.match(error.message, /^The ipvs mode cannot serve IPv6 on this host: ip6tables does not work/);
      return true;
    });
    const noIpv6Ipvs = proxierDeps(
      async (command, args, options) =>
        // ipvsadm -R goes on after a failing line and exits 0; the error is on stderr.
        command === 'ipvsadm' && options?.input?.includes('[') === true
          ? { code: 0, stdout: '', stderr: 'Address family not supported by protocol\n' }
          : host.exec(command, args, options),
      planOptions({ ipFamily: 'IPv6' }),
    );
    await assert.rejects(ipvsMode.checkHost(noIpv6Ipvs), /IPVS takes no IPv6 virtual server/);
  });
});
