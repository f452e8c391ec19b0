/**
 * The layering of src/ (docs/architecture.md §1), checked by `npm run lint:deps` as the first step
 * of `npm test`. Each folder may import only the folders below it; type-only imports count too.
 *
 *   errors → gpu → tensor → shader → graph → kernels → text, weights → models → sampling
 *          → runtime → pipeline → worker → node            (index.ts, advanced.ts: entries)
 */
const LAYERS = ['gpu', 'tensor', 'shader', 'graph', 'kernels', 'text|weights', 'models', 'sampling', 'runtime', 'pipeline', 'worker', 'node'];

/** One rule per layer: nothing in it imports a layer above it. */
const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.replace('|', '-')}`,
  comment: `src/{${layer}}/ imports only layers below it (docs/architecture.md §1)`,
  severity: 'error',
  from: { path: `^src/(${layer})/` },
  to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles, between folders or files',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'errors-imports-nothing',
      comment: 'src/errors.ts is the bottom layer: every layer may import it, it imports no project module',
      severity: 'error',
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'weights-apart',
      comment: 'Weight readers are independent of the tokenizers and of the GPU, graph and kernels (text-is-pure covers the other direction)',
      severity: 'error',
      from: { path: '^src/weights/' },
      to: { path: '^src/(text|gpu|shader|graph|kernels)/' },
    },
    {
      name: 'text-is-pure',
      comment: 'Tokenizers depend on nothing but the errors',
      severity: 'error',
      from: { path: '^src/text/' },
      to: { path: '^src/', pathNot: ['^src/text/', '^src/errors\\.ts$'] },
    },
    {
      name: 'models-touch-no-gpu',
      comment: 'Models are pure descriptions: of gpu/ only the DeviceCaps type the graph builder carries',
      severity: 'error',
      from: { path: '^src/models/' },
      to: { path: '^src/gpu/', pathNot: '^src/gpu/features\\.ts$' },
    },
    {
      name: 'node-only-in-src-node',
      comment: 'Only src/node/ imports node:* modules',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/node/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'dawn-only-in-src-node',
      comment: 'Only src/node/ imports the webgpu (Dawn) package',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/node/' },
      to: { path: 'node_modules/webgpu/' },
    },
    {
      name: 'entries-are-universal',
      comment: 'The package entries (index.ts, advanced.ts) run in browsers: they never import src/node/',
      severity: 'error',
      from: { path: '^src/(index|advanced)\\.ts$' },
      to: { path: '^src/node/' },
    },
    {
      name: 'src-stands-alone',
      comment: 'src/ never imports tests/, tools/ or demo/',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(tests|tools|demo)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.wgsl' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
