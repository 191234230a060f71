/**
 * Every mode folder reads the same way (docs/architecture.md, "A mode folder"): the same five files, and
 * every mode the CLI accepts has a folder that the registry loads.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PROXY_MODES } from '../contracts/proxy_mode.ts';
import { loadMode } from './registry.ts';

const MODES_DIR = import.meta.dirname;
const SHAPE = ['index.ts', 'plan.ts', 'proxier.ts', 'trace.ts', 'cleanup.ts'];
const NOT_A_MODE = new Set(['common']);

const folders = readdirSync(MODES_DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory() && !NOT_A_MODE.has(e.name))
  .map((e) => e.name)
  .sort();

describe('mode folders', () => {
  it('are exactly the modes --proxy-mode accepts', () => {
    assert.deepEqual(folders, [...PROXY_MODES].sort());
  });

  for (const folder of folders) {
    it(`${folder}/ has ${SHAPE.join(', ')}`, () => {
      const missing = SHAPE.filter((file) => !existsSync(join(MODES_DIR, folder, file)));
      assert.deepEqual(missing, [], `src/modes/${folder}/ lacks ${missing.join(', ')}`);
    });
  }

  for (const mode of PROXY_MODES) {
    it(`the registry loads ${mode} under its own name`, async () => {
      assert.equal((await loadMode(mode)).name, mode);
    });
  }
});
