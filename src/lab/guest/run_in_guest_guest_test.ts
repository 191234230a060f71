/**
 * Guest test of the harness itself: one boot proves the guest kernel has what the ipvs mode needs and
 * that the harness reports exit code, stdout and stderr faithfully. Runs in a qemu guest (see
 * run_in_guest.ts); needs scripts/guest-setup.sh to have run, or root with apt to run it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kernelTestSkip } from '../kernel_tools.ts';
import { GuestError } from './guest_error.ts';
import { repoRoot } from './guest_image.ts';
import { runInGuest } from './run_in_guest.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: ['qemu-system-x86_64', 'busybox', 'modprobe', 'ip', 'ipvsadm'],
  guestKernel: true,
});

describe('runInGuest', { skip }, () => {
  it('runs a command in a kernel with IPVS, dummy links and the host node, and reports code, stdout and stderr', async () => {
    const ns = `kpt-gh-${process.pid % 10000}`;
    const probe = join(repoRoot, '.cache', `guest-probe-${process.pid}`);
    const script = [
      'set -e',
      'modprobe ip_vs',
      'test -e /proc/net/ip_vs && echo "ip_vs: loaded"',
      `ip netns add ${ns}`,
      `ip netns exec ${ns} ipvsadm -A -t 198.18.0.1:80 -s rr`,
      `ip netns exec ${ns} ipvsadm -Ln`,
      `ip netns exec ${ns} ip link add kube-ipvs0 type dummy`,
      `ip netns exec ${ns} ip -o link show kube-ipvs0`,
      'node -e \'console.log("node: " + process.version)\'',
      `touch ${probe}`,
      'echo "to stderr: $1" >&2',
      'exit 7',
    ].join('\n');
    const result = await runInGuest(['sh', '-c', script, 'sh', "it's quoted"], { timeoutMs: 60_000 });

    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stdout, /^ip_vs: loaded$/m);
    assert.match(result.stdout, /^TCP {2}198\.18\.0\.1:80 rr\s*$/m);
    assert.match(result.stdout, /kube-ipvs0: <BROADCAST,NOARP>/);
    assert.match(result.stdout, new RegExp(`^node: ${process.version.replaceAll('.', '\\.')}$`, 'm'));
    assert.equal(result.stderr, "to stderr: it's quoted\n");
    assert.equal(existsSync(probe), false, 'a file the guest writes stays in its overlay');
  });

  it('kills a guest that outlives its timeout', async () => {
    await assert.rejects(runInGuest(['sleep', '600'], { timeoutMs: 1500 }), (error: unknown) => {
      assert.ok(error instanceof GuestError);
      assert.equal(error.code, 'KPROXY_GUEST');
      assert.match(error.message, /^The guest timed out after 1500 ms: sleep 600/);
      return true;
    });
  });
});
