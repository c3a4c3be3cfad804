// @ts-check
// ESLint (flat config): ESLint's and typescript-eslint's recommended rules, including the
// type-aware ones (no-floating-promises, no-misused-promises, await-thenable, no-base-to-string,
// unbound-method, ...). Formatting is Prettier's job (`npm run format`), not ESLint's: neither
// recommended set contains layout rules, so the two never disagree. Import boundaries between
// the layers are checked by dependency-cruiser (.dependency-cruiser.cjs).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Generated code (Prisma client, Pothos types, codegen'd typed documents), build output and data.
    ignores: [
      'src/generated/',
      'tests/generated/',
      'examples/generated/',
      'dist/',
      'node_modules/',
      'coverage/',
      'bench/results/',
      '.data/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      // One TypeScript program from tsconfig.json (it includes src, scripts, tests, bench, examples, prisma).
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Off: an async function without `await` is no bug. Here they are implementations of
      // Promise-returning interfaces (PubSub.close, Presence.connect, Apollo plugin hooks...),
      // and `async` is what turns a synchronous throw into a rejection; dropping it would change that.
      '@typescript-eslint/require-await': 'off',
      // Off, stylistic: a redundant assertion never changes what runs. Nearly all hits are the
      // project's deliberate `xs[i]!` on indexed access (written as if noUncheckedIndexedAccess were on).
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // `const { secret: _secret, ...rest } = x` and `_unused` parameters are the usual ways to say "on purpose".
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          ignoreRestSiblings: true,
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
    },
  },
  {
    // Tests read untyped JSON (fetch().json(), WebSocket frames, raw SQL rows) and let expect()
    // check its shape at run time; requiring types for every such read would be ceremony.
    files: ['tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    // Plain JavaScript (this file, scripts/*.mjs, .dependency-cruiser.cjs) is outside the TypeScript program.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
