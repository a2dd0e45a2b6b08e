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

/**
 * The run panel's host (src/panel/runPanelHost.ts) is a file of its own, dist/panel/runPanelHost.js,
 * which src/panel/runPanels.ts requires when a panel first opens: activation neither runs nor reads it.
 */
const panelHostChunk = {
  name: 'panel-host-chunk',
  setup(build) {
    build.onResolve({ filter: /^\.\/runPanelHost$/ }, () => ({ path: './panel/runPanelHost.js', external: true }));
  },
};

/** The codicon font and its stylesheet, beside the webview bundle (`vscode-icon` finds the stylesheet by its id). */
const copyCodicons = {
  name: 'copy-codicons',
  setup(build) {
    build.onEnd(() => {
      const fs = require('fs');
      const path = require('path');
      const from = path.join(__dirname, 'node_modules', '@vscode', 'codicons', 'dist');
      const to = path.join(__dirname, 'dist', 'webview');
      fs.mkdirSync(to, { recursive: true });
      for (const f of ['codicon.css', 'codicon.ttf']) fs.copyFileSync(path.join(from, f), path.join(to, f));
    });
  },
};

const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'], plugins: [...common.plugins, lazyChunks, panelHostChunk] },
  {
    ...common,
    entryPoints: ['src/panel/runPanelHost.ts'],
    outfile: 'dist/panel/runPanelHost.js',
    external: ['vscode'],
    plugins: [...common.plugins, { name: 'lazy-chunks-from-panel', setup: (b) => b.onResolve({ filter: new RegExp(`^(${lazyPackages.join('|')})$`) }, (args) => ({ path: `../lazy/${args.path}.js`, external: true })) }],
  },
  // The run panel's page: browser code and CSS (web components, no framework), no Node.
  {
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: production,
    sourcemap: !production,
    sourcesContent: false,
    logLevel: 'silent',
    entryPoints: { runPanel: 'src/panel/webview/runPanel.ts', runPanelStyle: 'src/panel/webview/runPanel.css' },
    outdir: 'dist/webview',
    entryNames: '[name]',
    plugins: [...common.plugins, copyCodicons],
  },
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
