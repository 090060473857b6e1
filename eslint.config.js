// Lint, format-adjacent rules and import boundaries. `npm run check` = tsc + this.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

/**
 * Dependency direction from ../shared/STYLE.md §1: imports point inward, toward domain and shared.
 * Each element type lists what it may import; anything else is a lint error. The lists are the imports
 * that exist, no wider: a new dependency between modules is a decision, made here in review.
 */
const ELEMENTS = [
  { type: 'config', pattern: 'src/config', partialMatch: false },
  { type: 'shared', pattern: 'src/shared', partialMatch: false },
  { type: 'domain', pattern: 'src/domain', partialMatch: false },
  { type: 'jpm', pattern: 'src/jpm', partialMatch: false },
  { type: 'onboarding', pattern: 'src/onboarding', partialMatch: false },
  { type: 'credentials', pattern: 'src/credentials', partialMatch: false },
  { type: 'accounts', pattern: 'src/accounts', partialMatch: false },
  { type: 'normalization', pattern: 'src/normalization', partialMatch: false },
  { type: 'storage', pattern: 'src/storage', partialMatch: false },
  { type: 'sync', pattern: 'src/sync', partialMatch: false },
  { type: 'validation', pattern: 'src/validation', partialMatch: false },
  { type: 'scheduler', pattern: 'src/scheduler', partialMatch: false },
  { type: 'events', pattern: 'src/events', partialMatch: false },
  { type: 'http', pattern: 'src/http', partialMatch: false },
  { type: 'admin-api', pattern: 'src/admin-api', partialMatch: false },
  { type: 'read-api', pattern: 'src/read-api', partialMatch: false },
  { type: 'simulator', pattern: 'src/simulator', partialMatch: false },
  { type: 'statements', pattern: 'src/statements', partialMatch: false },
  { type: 'notifications', pattern: 'src/notifications', partialMatch: false },
  { type: 'review', pattern: 'src/review', partialMatch: false },
  { type: 'console', pattern: 'src/console', partialMatch: false },
  { type: 'main', pattern: 'src/main', partialMatch: false },
];

/** @param {string} from @param {string[]} to */
const allow = (from, to) => ({
  from: { element: { type: from } },
  allow: { to: { element: to.includes('*') ? { type: '*' } : { types: { anyOf: [from, ...to] } } } },
});

const RULES = [
  allow('config', []),
  allow('shared', []),
  allow('domain', ['shared']),
  allow('jpm', ['shared']),
  allow('onboarding', ['credentials', 'domain', 'shared', 'storage']),
  allow('credentials', ['config', 'domain', 'shared', 'storage']),
  allow('accounts', ['scheduler', 'shared', 'storage']),
  allow('normalization', ['domain', 'jpm', 'shared']),
  allow('storage', ['domain', 'shared']),
  allow('sync', ['domain', 'jpm', 'normalization', 'shared', 'storage']),
  allow('validation', ['domain', 'shared', 'storage']),
  allow('scheduler', ['domain', 'shared', 'storage', 'sync']),
  allow('events', ['shared', 'storage']),
  allow('http', ['config', 'domain', 'shared']),
  allow('admin-api', [
    'accounts',
    'config',
    'credentials',
    'domain',
    'http',
    'jpm',
    'notifications',
    'onboarding',
    'review',
    'scheduler',
    'shared',
    'storage',
    'validation',
  ]),
  allow('read-api', ['domain', 'events', 'http', 'shared', 'storage']),
  allow('notifications', ['shared', 'storage']),
  allow('review', ['shared', 'storage', 'validation']),
  // The operator console acts through the API's route registry; it reads onboarding, validation and
  // scheduler state for what no route answers (next-move guards, calendar, next scheduled sync).
  allow('console', ['domain', 'http', 'onboarding', 'scheduler', 'shared', 'storage', 'validation']),
  allow('simulator', ['shared']),
  allow('statements', ['domain', 'normalization', 'shared']),
  allow('main', [
    'admin-api',
    'config',
    'console',
    'credentials',
    'domain',
    'events',
    'http',
    'jpm',
    'notifications',
    'onboarding',
    'read-api',
    'review',
    'scheduler',
    'shared',
    'simulator',
    'statements',
    'storage',
    'sync',
    'validation',
  ]),
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', 'bench/results/**', '.dev-pki/**', 'src/storage/db.types.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js', 'bin/*.js', 'src/console/static/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      curly: 'error',
      'no-console': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/elements': ELEMENTS,
      'boundaries/include': ['src/**/*.ts'],
      'import/resolver': { node: { extensions: ['.ts'] } },
    },
    rules: {
      'boundaries/dependencies': ['error', { default: 'disallow', policies: RULES }],
      'boundaries/no-unknown-files': 'error',
    },
  },
  {
    // Storage is the only room that speaks SQL (../shared/STYLE.md §22, CONTRIBUTING.md "Storage"): elsewhere no value
    // from kysely (`sql`, `Kysely`, expression helpers; `import type` is fine) and no query built. A CTE
    // (`db.with(name, (qb) => qb.selectFrom(…))`) is caught by the builder calls inside and after it;
    // `db.transaction()` stays allowed (the owning module holds the transaction and passes it to repositories).
    files: ['src/**/*.ts'],
    ignores: ['src/storage/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'kysely',
              allowTypeImports: true,
              message: 'queries belong in src/storage (STYLE.md §22); import only types from kysely here.',
            },
          ],
          patterns: [
            {
              group: ['kysely/*'],
              allowTypeImports: true,
              message: 'queries belong in src/storage (STYLE.md §22); import only types from kysely here.',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.type='MemberExpression'][callee.property.name=/^(selectFrom|selectNoFrom|insertInto|replaceInto|updateTable|deleteFrom|mergeInto|executeQuery)$/]",
          message: 'queries belong in src/storage (STYLE.md §22): call a repository function instead.',
        },
        {
          selector: "TaggedTemplateExpression[tag.name='sql'], CallExpression[callee.object.name='sql']",
          message: 'queries belong in src/storage (STYLE.md §22): call a repository function instead.',
        },
      ],
    },
  },
  {
    // Migrations run on Kysely<any> by design (they must not depend on src types that change later).
    files: ['migrations/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['tests/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'eslint.config.js', 'bin/*.js'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['eslint.config.js', 'bin/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly' } },
  },
  // The console's one browser script (progressive enhancement, no build step): plain browser JavaScript.
  {
    files: ['src/console/static/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: { document: 'readonly', HTMLInputElement: 'readonly', HTMLTextAreaElement: 'readonly' },
    },
  },
);
