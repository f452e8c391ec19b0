import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const root = import.meta.dirname;

/**
 * `vite build`: the library (`dist/index.js` universal, `dist/node.js` + `dist/cli.js` for Node),
 * shaders inlined through `?raw`. `vite build --mode demo`: the demo page into `dist/demo`.
 * `vitest`: Node tests on Dawn (the browser suite has its own config).
 */
export default defineConfig(({ mode }) => {
  if (mode === 'demo') {
    return {
      root: resolve(root, 'demo'),
      base: './',
      build: { outDir: resolve(root, 'dist/demo'), emptyOutDir: true, target: 'es2022' },
      // The pipeline worker is a module worker (it imports the engine's chunks).
      worker: { format: 'es' as const },
    };
  }
  return {
    build: {
      target: 'es2022',
      outDir: 'dist',
      emptyOutDir: false,
      sourcemap: true,
      minify: false,
      lib: {
        entry: {
          index: resolve(root, 'src/index.ts'),
          advanced: resolve(root, 'src/advanced.ts'),
          node: resolve(root, 'src/node/index.ts'),
          worker: resolve(root, 'src/worker/index.ts'),
          'worker-entry': resolve(root, 'src/worker/entry.ts'),
          cli: resolve(root, 'src/node/cli.ts'),
        },
        formats: ['es'],
      },
      rollupOptions: {
        // Only Node's own modules and Dawn stay external: the browser entry must load in a page
        // without an import map, so idb-keyval and onnx-proto are bundled.
        external: [/^node:/, 'webgpu'],
      },
    },
    test: {
      include: ['tests/unit/**/*.test.ts', 'tests/integration/**/*.test.ts', 'tests/tools/**/*.test.ts'],
      globalSetup: ['tests/setup/global.ts'],
      testTimeout: 300_000,
      hookTimeout: 300_000,
      pool: 'forks',
      maxWorkers: 2,
      reporters: ['default'],
    },
  };
});
