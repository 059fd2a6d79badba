// Builds dist/vigil.js (IIFE, for a <script> tag), dist/vigil.mjs (ES module) and
// dist/vigil-attribution.mjs (web-vitals' attribution build, loaded on demand), prints
// the gzipped size of vigil.js and fails when it is over the budget. Then the dashboard:
// dist/dashboard.js from src/dashboard/main.js (with uPlot), and its index.html,
// dashboard.css, favicon.svg and uPlot's stylesheet (as uplot.css) copied beside it, so
// that the collector serves the dashboard at /. Last, a gzip (-9) and a brotli copy of
// every text file (FILE.gz, FILE.br), which the collector sends to browsers that accept
// them (collector/README.md, static files).
import { build } from 'esbuild';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';

// Bytes of vigil.js after gzip -9. 4000 rather than 4096, so that it holds for either
// reading of "4 KB". web-vitals takes 2.4 KB of it; its version 6 (soft navigations)
// takes 3.6 KB, which is why package.json keeps to version 5.
const BUDGET = 4000;

const common = {
    bundle: true,
    minify: true,
    // The syntax web-vitals' own build already needs (class fields: Safari 14.1), and
    // not less: lowering it would cost this budget more than a hundred bytes.
    target: ['chrome85', 'edge85', 'firefox79', 'safari14.1'],
    logLevel: 'warning',
    legalComments: 'none', // web-vitals ships none; keep a stray one out of the budget
};

// The script tag's build passes vigil-attribution.mjs's URL, computed from its own
// src, so import.meta.url (empty in an IIFE) is never read there.
await build({ ...common, entryPoints: ['src/iife.js'], format: 'iife', outfile: 'dist/vigil.js' });
await build({ ...common, entryPoints: ['src/esm.js'], format: 'esm', outfile: 'dist/vigil.mjs' });
// web-vitals' attribution build, loaded by vigil.js and vigil.mjs only when asked.
await build({ ...common, stdin: { contents: "export * from 'web-vitals/attribution';",
                                  resolveDir: '.' },
              format: 'esm', outfile: 'dist/vigil-attribution.mjs' });

const size = (f) => {
    const raw = readFileSync(f);
    return [raw.length, gzipSync(raw, { level: 9 }).length];
};
const [raw, gz] = size('dist/vigil.js');
const [mraw, mgz] = size('dist/vigil.mjs');
const [araw, agz] = size('dist/vigil-attribution.mjs');
console.log(`dist/vigil.js   ${raw} bytes, ${gz} bytes gzipped (budget ${BUDGET})`);
console.log(`dist/vigil.mjs  ${mraw} bytes, ${mgz} bytes gzipped`);
console.log(`dist/vigil-attribution.mjs  ${araw} bytes, ${agz} bytes gzipped (with data-attribution only)`);
if (gz > BUDGET) {
    console.error(`build: dist/vigil.js is ${gz} bytes gzipped, over the budget of ${BUDGET}`);
    process.exit(1);
}

// The dashboard. Its own target (current Chromium and Firefox, and Safari), no budget:
// it is loaded by the people watching a rollout, not by every visitor of the app.
await build({
    entryPoints: ['src/dashboard/main.js'],
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'iife',
    target: ['chrome100', 'firefox100', 'safari15.4'],
    logLevel: 'warning',
    legalComments: 'eof',
    outfile: 'dist/dashboard.js',
});
for (const [from, to] of [['src/dashboard/index.html', 'dist/index.html'],
                          ['src/dashboard/dashboard.css', 'dist/dashboard.css'],
                          ['src/dashboard/favicon.svg', 'dist/favicon.svg'],
                          ['node_modules/uplot/dist/uPlot.min.css', 'dist/uplot.css']])
    copyFileSync(from, to);
const [draw, dgz] = size('dist/dashboard.js');
console.log(`dist/dashboard.js  ${draw} bytes, ${dgz} bytes gzipped (and index.html, dashboard.css, uplot.css, favicon.svg)`);

// Precompressed copies, written after the files they copy (the collector serves a copy
// only when it is not older than its file).
const TEXT = /\.(js|mjs|css|html|svg|map|json|txt)$/;
for (const name of readdirSync('dist').filter((n) => TEXT.test(n))) {
    const raw = readFileSync(`dist/${name}`);
    writeFileSync(`dist/${name}.gz`, gzipSync(raw, { level: 9 }));
    writeFileSync(`dist/${name}.br`, brotliCompressSync(raw, {
        params: { [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY,
                  [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length },
    }));
}
console.log(`dist/*.gz, dist/*.br  vigil.js ${readFileSync('dist/vigil.js.gz').length} bytes gzip, ${readFileSync('dist/vigil.js.br').length} brotli`);
