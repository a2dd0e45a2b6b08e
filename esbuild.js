// Bundles the extension, the CLI and the simulator. `--production` minifies and drops source maps;
// `--watch` rebuilds on change (the default build task in .vscode/tasks.json).
const esbuild = require('esbuild');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** Prints errors in the shape the `$esbuild-watch` problem matcher understands. */
const problemMatcher = {
  name: 'esbuild-problem-matcher',
  setup(build) {
    build.onStart(() => console.log('[watch] build started'));
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      console.log('[watch] build finished');
    });
  },
};

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: production,
  sourcemap: !production,
  sourcesContent: false,
  // jsonc-parser's default (UMD) build requires its own files at run time, which a bundle cannot serve; its ESM build bundles.
  mainFields: ['module', 'main'],
  logLevel: 'silent',
  plugins: watch ? [problemMatcher] : [],
};

/**
 * The packages src/api/lazy.ts loads on first use. In the extension each is a file of its own in
 * dist/lazy/, so activation neither runs nor even reads them: they are four fifths of the code.
 */
const lazyPackages = ['undici', 'ws', 'jsonc-parser', 'proper-lockfile', 'https-proxy-agent'];

/** Points the extension's `require('undici')` (and the others) at its file in dist/lazy/. */
const lazyChunks = {
  name: 'lazy-chunks',
  setup(build) {
    const filter = new RegExp(`^(${lazyPackages.join('|')})$`);
    build.onResolve({ filter }, (args) => ({ path: `./lazy/${args.path}.js`, external: true }));
  },
};

const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'], plugins: [...common.plugins, lazyChunks] },
  ...lazyPackages.map((name) => ({
    ...common,
    stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: __dirname, sourcefile: `lazy-${name}.js` },
    outfile: `dist/lazy/${name}.js`,
  })),
  { ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  { ...common, entryPoints: ['src/simulator/main.ts'], outfile: 'dist/simulator.js', banner: { js: '#!/usr/bin/env node' } },
];

async function main() {
  const contexts = await Promise.all(builds.map((b) => esbuild.context(b)));
  if (watch) {
    await Promise.all(contexts.map((c) => c.watch()));
    return;
  }
  const results = await Promise.allSettled(contexts.map((c) => c.rebuild()));
  await Promise.all(contexts.map((c) => c.dispose()));
  if (results.some((r) => r.status === 'rejected')) process.exit(1);
}

// `npm run bench` builds the extension with these same options (minified or not) to measure its start-up.
module.exports = { common, builds };

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
