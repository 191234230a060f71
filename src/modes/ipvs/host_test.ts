/**
 * The ipvs mode's host check against a strict fake host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeIpvsHost } from '../../kernel/testing/ipvs_fake_host.ts';
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
});
