import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LAB_VIP6_PREFIX } from '../../src/lab/lab.ts';
import { parseManifestFile } from '../../src/sources/manifest/index.ts';
import {
  DATA_PATH_VIP,
  DATA_PATH_VIP6,
  dataPathManifest,
  STATIC_DNAT_VIP6,
  visitOrder,
} from './data_path.ts';

describe('visitOrder', () => {
  it('rotates the targets by one each repetition, so that every target takes every position', () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((rep) => visitOrder(3, rep)),
      [
        [0, 1, 2],
        [1, 2, 0],
        [2, 0, 1],
        [0, 1, 2],
      ],
    );
  });
});

describe('dataPathManifest', () => {
  it('is a valid Service and EndpointSlice: VIP port 80 to the HTTP backend, 5201 to iperf3', () => {
    const parsed = parseManifestFile('web.json', dataPathManifest('198.18.101.2'));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(
      parsed.entries.map((e) => `${e.identity} ${e.status}`),
      ['Service/bench/web valid', 'EndpointSlice/bench/web-1 valid'],
    );
    const text = dataPathManifest('198.18.101.2');
    assert.ok(text.includes(`"clusterIP": "${DATA_PATH_VIP}"`));
    assert.match(text, /"port": 80,\s+"targetPort": 8080/);
    assert.match(text, /"port": 5201,\s+"targetPort": 5201/);
    assert.match(text, /"addresses": \[\s+"198\.18\.101\.2"\s+\]/);
  });

  it('keeps its VIP out of the scale benchmark range (198.19.0.0/18) and in the lab VIP range', () => {
    const [a, b, c] = DATA_PATH_VIP.split('.').map(Number);
    assert.ok(a === 198 && b === 19 && c! >= 64);
  });

  it('over IPv6: an IPv6-only Service (clusterIPs, ipFamilies) with an IPv6 slice, VIPs in the lab IPv6 VIP range', () => {
    const text = dataPathManifest('2001:2:0:d0::2');
    const parsed = parseManifestFile('web.json', text);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.problems, []);
    assert.ok(text.includes(`"clusterIP": "${DATA_PATH_VIP6}"`));
    assert.match(text, /"ipFamilies": \[\s+"IPv6"\s+\]/);
    assert.match(text, /"addressType": "IPv6"/);
    for (const vip of [DATA_PATH_VIP6, STATIC_DNAT_VIP6]) assert.ok(vip.startsWith(LAB_VIP6_PREFIX), vip);
  });
});
