// probeIpv6 with a fake reader: the two files it reads, and what each answer means.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { probeIpv6, type ReadText } from './ip_family_support.ts';

/** A reader over fixed files; a path not given is missing (ENOENT, as node:fs throws). */
function files(contents: Record<string, string>): ReadText & { read: string[] } {
  const read: string[] = [];
  const reader = async (path: string) => {
    read.push(path);
    const text = contents[path];
    if (text === undefined)
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return text;
  };
  return Object.assign(reader, { read });
}

const IF_INET6 = '00000000000000000000000000000001 01 80 10 80       lo\n';

describe('probeIpv6', () => {
  it('says nothing (IPv6 is there) when the kernel lists IPv6 addresses and IPv6 is enabled', async () => {
    const reader = files({
      '/proc/net/if_inet6': IF_INET6,
      '/proc/sys/net/ipv6/conf/all/disable_ipv6': '0\n',
    });
    assert.equal(await probeIpv6(reader), undefined);
    assert.deepEqual(reader.read, ['/proc/net/if_inet6', '/proc/sys/net/ipv6/conf/all/disable_ipv6']);
  });

  it('says the kernel has no IPv6 when /proc/net/if_inet6 is missing (ipv6.disable=1)', async () => {
    const reason = await probeIpv6(files({}));
    assert.match(reason ?? '', /the kernel has no IPv6/);
    assert.match(reason ?? '', /ipv6\.disable=1/);
  });

  it('says IPv6 is disabled when net.ipv6.conf.all.disable_ipv6 is 1', async () => {
    const reason = await probeIpv6(
      files({ '/proc/net/if_inet6': '', '/proc/sys/net/ipv6/conf/all/disable_ipv6': '1\n' }),
    );
    assert.equal(reason, 'IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)');
  });

  it('takes IPv6 as there when the sysctl cannot be read but if_inet6 can', async () => {
    assert.equal(await probeIpv6(files({ '/proc/net/if_inet6': IF_INET6 })), undefined);
  });

  it('reads the real files by default (this host: an answer, never a throw)', async () => {
    const reason = await probeIpv6();
    assert.ok(reason === undefined || typeof reason === 'string');
  });
});
