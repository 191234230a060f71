import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfiguration } from './defaults.ts';
import { ipvsTuningFromConfig } from './ipvs_tuning.ts';

describe('ipvs settings from the configuration', () => {
  it('default to nothing tuned and nothing excluded', () => {
    assert.deepEqual(ipvsTuningFromConfig(defaultConfiguration()), {
      strictARP: false,
      excludeCIDRs: [],
      tcpTimeoutMs: 0,
      tcpFinTimeoutMs: 0,
      udpTimeoutMs: 0,
    });
  });

  it('carry every ipvs field', () => {
    const config = defaultConfiguration();
    config.ipvs = {
      ...config.ipvs,
      strictARP: true,
      excludeCIDRs: ['198.18.200.0/24'],
      tcpTimeout: 7_200_000,
      tcpFinTimeout: 30_000,
      udpTimeout: 10_000,
    };
    assert.deepEqual(ipvsTuningFromConfig(config), {
      strictARP: true,
      excludeCIDRs: ['198.18.200.0/24'],
      tcpTimeoutMs: 7_200_000,
      tcpFinTimeoutMs: 30_000,
      udpTimeoutMs: 10_000,
    });
  });
});
