#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm ci`/`npm run build`); from a source checkout without a
// build, falls back to running the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'bin.js');
if (existsSync(compiled) && process.env.KPROXY_FROM_SOURCE !== '1') {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'src', 'bin.ts')).href);
}
