import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseManifestFile } from '../../src/sources/manifest/index.ts';
import {
  MAX_SERVICES,
  poolEndpoint,
  serviceName,
  serviceVip,
  writeEndpointSlice,
  writeServiceSet,
} from './service_manifests.ts';

describe('service names and addresses', () => {
  it('names sort in creation order', () => {
    const names = [9, 10, 100, 9999].map(serviceName);
    assert.deepEqual([...names].sort(), names);
    assert.equal(serviceName(42), 'svc-00042');
  });

  it('gives every service its own VIP inside 198.19.0.0/18, never .0 or .255', () => {
    const vips = Array.from({ length: MAX_SERVICES }, (_, i) => serviceVip(i));
    assert.equal(new Set(vips).size, MAX_SERVICES);
    for (const vip of vips) {
      const [a, b, c, d] = vip.split('.').map(Number);
      assert.ok(a === 198 && b === 19 && c! < 64 && d! >= 1 && d! <= 250, vip);
    }
    assert.throws(() => serviceVip(MAX_SERVICES), /Bad service index: 16000/);
  });

  it('takes pool endpoints from 198.19.64.0 upward, away from the VIPs and the lab hosts', () => {
    assert.equal(poolEndpoint(0), '198.19.64.1');
    assert.equal(poolEndpoint(250), '198.19.65.1');
    assert.equal(poolEndpoint(192 * 250 - 1), '198.19.255.250');
    assert.equal(poolEndpoint(192 * 250), '198.19.64.1', 'wraps around');
  });
});

describe('writeServiceSet', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kpt-bench-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes manifests that kproxy reads without a problem, the last slice in a file of its own', async () => {
    const files = await writeServiceSet(dir, {
      services: 3,
      endpointsPerService: 2,
      endpointsOf: (i) => (i === 2 ? ['198.18.101.2'] : undefined),
    });
    assert.deepEqual((await readdir(dir)).sort(), [
      'endpointslices.json',
      'last-endpointslice.json',
      'services.json',
    ]);
    const entries = [];
    for (const name of await readdir(dir)) {
      const parsed = parseManifestFile(name, await readFile(join(dir, name), 'utf8'));
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.problems, []);
      entries.push(...parsed.entries);
    }
    assert.deepEqual(entries.map((e) => `${e.identity} ${e.status}`).sort(), [
      'EndpointSlice/bench/svc-00000-1 valid',
      'EndpointSlice/bench/svc-00001-1 valid',
      'EndpointSlice/bench/svc-00002-1 valid',
      'Service/bench/svc-00000 valid',
      'Service/bench/svc-00001 valid',
      'Service/bench/svc-00002 valid',
    ]);
    const last = await readFile(files.lastSliceFile, 'utf8');
    assert.match(last, /"addresses":\["198\.18\.101\.2"\]/);
    const slices = await readFile(join(dir, 'endpointslices.json'), 'utf8');
    assert.match(slices, /"198\.19\.64\.1".*"198\.19\.64\.2"/);
    assert.match(slices, /"198\.19\.64\.3".*"198\.19\.64\.4"/);
  });

  it('rewrites one slice in place for a one-endpoint change', async () => {
    const file = join(dir, 'last-endpointslice.json');
    await writeEndpointSlice(file, 2, ['198.18.101.3']);
    const parsed = parseManifestFile('last-endpointslice.json', await readFile(file, 'utf8'));
    assert.ok(parsed.ok);
    assert.equal(parsed.entries.length, 1);
    assert.match(await readFile(file, 'utf8'), /198\.18\.101\.3/);
    assert.ok(!(await readdir(dir)).some((name) => name.endsWith('.tmp')));
  });

  it('refuses a count it cannot address', async () => {
    await assert.rejects(
      writeServiceSet(dir, { services: 0, endpointsPerService: 1 }),
      /Bad number of services: 0/,
    );
  });
});
