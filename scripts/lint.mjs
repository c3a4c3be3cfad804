// `npm run lint`: import boundaries (dependency-cruiser), formatting (Prettier) and ESLint.
// ESLint's type-aware pass keeps one core busy for most of the run, so the two quick checks run
// beside it rather than before it. Each check's output is printed whole once it is done; the
// exit code is non-zero when any of them failed. Each also runs alone: npm run lint:deps,
// lint:format, lint:eslint.
import { spawn } from 'node:child_process';

const checks = [
  ['import boundaries', 'lint:deps'],
  ['formatting', 'lint:format'],
  ['ESLint', 'lint:eslint'],
];
const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];

const run = ([label, script]) =>
  new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(npm[0], [...npm.slice(1), 'run', '--silent', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (error) => (output += `${error.message}\n`));
    child.on('close', (code) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const status = code === 0 ? 'ok' : `FAILED (exit ${code})`;
      process.stdout.write(`\n== ${label} (npm run ${script}): ${status}, ${seconds} s\n${output.trimEnd()}\n`);
      resolve(code === 0);
    });
  });

const results = await Promise.all(checks.map(run));
if (results.includes(false)) process.exitCode = 1;
