/**
 * The layering of docs/architecture.md as a checked rule (`npm run lint`). Layers import only downward:
 *
 *   model, log ← contracts ← kernel, runner, sources ← tracker, trace, metrics ← modes ← daemon ← server ← cli ← bin
 *
 * Mode folders never import each other (shared pieces live in modes/common/ or below); production code never
 * imports test support (`testing/` folders, `*_test.ts`, the network-namespace lab, the end-to-end tests);
 * the benchmarks use only public seams (a mode's index.ts, never its internals) and, of the test support,
 * only a mode's lab driver (so that a mode is driven in a lab by one driver, the one its kernel tests use)
 * and the ground floor's fixtures (generic model builders, no mode internals).
 */
const TEST = '(_test\\.ts$|/testing/)';
// Test code of a layer (its *_test.ts and testing/ files) may also use the ground floor, the kernel seam
// (fakes, errors) and the lab; the rule below keeps all of that out of production code.
const TEST_EXTRAS = ['contracts', 'kernel', 'lab'];
const layerPath = (a) => `^src/${a}(/|\\.ts$)`;
const below = (layer, allowed) => [
  {
    name: `${layer}-imports-only-downward`,
    comment: `src/${layer} may import only: ${allowed.join(', ') || 'nothing of ours'} (see docs/architecture.md)`,
    severity: 'error',
    from: { path: layerPath(layer), pathNot: TEST },
    to: { path: '^src/', pathNot: [layerPath(layer), ...allowed.map(layerPath)] },
  },
  {
    name: `${layer}-tests-import-only-downward`,
    comment: `tests of src/${layer} may import: ${[...allowed, ...TEST_EXTRAS].join(', ')} and test support`,
    severity: 'error',
    from: { path: [`${layerPath(layer)}.*_test\\.ts$`, `${layerPath(layer)}.*/testing/`] },
    to: { path: '^src/', pathNot: [layerPath(layer), ...[...allowed, ...TEST_EXTRAS].map(layerPath)] },
  },
];

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    ...below('model', []),
    ...below('log', []),
    ...below('contracts', ['model']),
    ...below('kernel', ['model', 'contracts', 'log']),
    ...below('runner', ['model', 'contracts', 'log']),
    ...below('sources', ['model', 'contracts', 'log', 'runner']),
    ...below('tracker', ['model', 'contracts', 'log', 'sources']),
    ...below('trace', ['model', 'contracts', 'kernel']),
    ...below('metrics', ['model', 'contracts', 'log']),
    ...below('modes', ['model', 'contracts', 'log', 'kernel', 'runner', 'tracker', 'trace', 'metrics']),
    ...below('daemon', ['model', 'contracts', 'log', 'kernel', 'runner', 'sources', 'tracker', 'metrics', 'modes/mode', 'modes/dual_stack']),
    ...below('server', ['model', 'contracts', 'log', 'kernel', 'metrics', 'runner']),
    ...below('cli', ['model', 'contracts', 'log', 'kernel', 'runner', 'sources', 'tracker', 'trace', 'metrics', 'modes', 'daemon', 'server']),
    ...below('lab', ['model', 'contracts', 'log', 'kernel']),
    {
      name: 'modes-do-not-import-each-other',
      comment: 'a mode folder imports no other mode folder; what two modes share lives in src/modes/common/',
      severity: 'error',
      from: { path: '^src/modes/([^/]+)/' },
      to: { path: '^src/modes/[^/]+/', pathNot: ['^src/modes/$1/', '^src/modes/common/'] },
    },
    {
      name: 'common-imports-no-mode',
      severity: 'error',
      from: { path: '^src/modes/common/' },
      to: { path: '^src/modes/(?!common/)' },
    },
    {
      name: 'only-the-registry-loads-modes',
      comment:
        'outside src/modes only the contract (mode.ts), the registry and dual_stack.ts (mode-independent: it runs ' +
        "any mode's Proxier once per IP family) are imported",
      severity: 'error',
      from: { path: '^src/(?!modes/)', pathNot: [TEST, '^src/e2e/'] },
      to: { path: '^src/modes/(?!mode\\.ts$|registry\\.ts$|dual_stack\\.ts$)' },
    },
    {
      name: 'production-imports-no-test-support',
      comment: 'test support (testing/ folders, *_test.ts, src/lab, src/e2e) stays out of the published build',
      severity: 'error',
      from: { path: '^src/', pathNot: [TEST, '^src/lab/', '^src/e2e/'] },
      to: { path: [TEST, '^src/lab/', '^src/e2e/'] },
    },
    {
      name: 'tests-import-no-end-to-end-support',
      severity: 'error',
      from: { path: '^src/(?!e2e/)' },
      to: { path: '^src/e2e/' },
    },
    {
      name: 'bench-uses-public-seams',
      comment:
        "bench/ imports a mode only through its index.ts, and of the layers' test support only a mode's lab driver " +
        "(testing/lab_*: bench drives a mode in a lab through the mode's own lab driver, the one its kernel tests " +
        "use) and the ground floor's fixtures (src/model/testing/: generic ServicePortState builders, no mode internals)",
      severity: 'error',
      from: { path: '^bench/' },
      to: {
        path: ['^src/modes/[^/]+/(?!index\\.ts$)', '^src/[^/]+/.*testing/', '_test\\.ts$'],
        pathNot: ['^bench/', '^src/modes/[^/]+/testing/lab_', '^src/model/testing/(?!.*_test\\.ts$)'],
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['node_modules', '^dist/', '^\\.cache/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
