// Lint, format-adjacent rules and import boundaries. `npm run check` = tsc + this.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

/**
 * Dependency direction from ../shared/STYLE.md §1: imports point inward, toward domain and shared.
 * Each element type lists what it may import; anything else is a lint error.
 */
const ELEMENTS = [
  { type: 'config', pattern: 'src/config/**/*.ts', mode: 'full' },
  { type: 'shared', pattern: 'src/shared/**/*.ts', mode: 'full' },
  { type: 'domain', pattern: 'src/domain/**/*.ts', mode: 'full' },
  { type: 'jpm', pattern: 'src/jpm/**/*.ts', mode: 'full' },
  { type: 'onboarding', pattern: 'src/onboarding/**/*.ts', mode: 'full' },
  { type: 'credentials', pattern: 'src/credentials/**/*.ts', mode: 'full' },
  { type: 'accounts', pattern: 'src/accounts/**/*.ts', mode: 'full' },
  { type: 'normalization', pattern: 'src/normalization/**/*.ts', mode: 'full' },
  { type: 'storage', pattern: 'src/storage/**/*.ts', mode: 'full' },
  { type: 'sync', pattern: 'src/sync/**/*.ts', mode: 'full' },
  { type: 'validation', pattern: 'src/validation/**/*.ts', mode: 'full' },
  { type: 'scheduler', pattern: 'src/scheduler/**/*.ts', mode: 'full' },
  { type: 'events', pattern: 'src/events/**/*.ts', mode: 'full' },
  { type: 'http', pattern: 'src/http/**/*.ts', mode: 'full' },
  { type: 'admin-api', pattern: 'src/admin-api/**/*.ts', mode: 'full' },
  { type: 'read-api', pattern: 'src/read-api/**/*.ts', mode: 'full' },
  { type: 'simulator', pattern: 'src/simulator/**/*.ts', mode: 'full' },
  { type: 'statements', pattern: 'src/statements/**/*.ts', mode: 'full' },
  { type: 'notifications', pattern: 'src/notifications/**/*.ts', mode: 'full' },
  { type: 'review', pattern: 'src/review/**/*.ts', mode: 'full' },
  { type: 'console', pattern: 'src/console/**/*.ts', mode: 'full' },
  { type: 'main', pattern: ['src/main/**/*.ts', 'src/context.ts'], mode: 'full' },
];

/** @param {string} from @param {string[]} to */
const allow = (from, to) => ({
  from: { element: { type: from } },
  allow: { to: { element: to.includes('*') ? { type: '*' } : { types: { anyOf: [from, ...to] } } } },
});

const RULES = [
  allow('config', []),
  allow('shared', ['config']),
  allow('domain', ['shared']),
  allow('jpm', ['shared', 'config', 'domain']),
  allow('onboarding', ['domain', 'shared', 'storage', 'credentials', 'events']),
  allow('credentials', ['shared', 'storage', 'domain', 'config']),
  allow('accounts', ['storage', 'shared', 'scheduler']),
  allow('normalization', ['domain', 'shared', 'jpm']),
  allow('storage', ['domain', 'shared']),
  allow('sync', ['jpm', 'normalization', 'storage', 'domain', 'shared', 'credentials', 'events']),
  allow('validation', ['storage', 'domain', 'shared']),
  allow('scheduler', [
    'sync',
    'domain',
    'shared',
    'config',
    'storage',
    'validation',
    'onboarding',
    'credentials',
    'events',
  ]),
  allow('events', ['storage', 'shared', 'domain']),
  allow('http', ['shared', 'config', 'domain']),
  allow('admin-api', [
    'http',
    'scheduler',
    'storage',
    'domain',
    'shared',
    'onboarding',
    'credentials',
    'accounts',
    'events',
    'validation',
    'jpm',
    'config',
    'notifications',
    'review',
  ]),
  allow('notifications', ['storage', 'shared', 'domain']),
  allow('review', ['storage', 'shared', 'domain', 'validation', 'http']),
  allow('read-api', ['http', 'storage', 'domain', 'shared', 'events']),
  // The operator console acts through the API's route registry; it reads onboarding, validation and
  // scheduler state for what no route answers (next-move guards, calendar, next scheduled sync).
  allow('console', ['http', 'storage', 'domain', 'shared', 'onboarding', 'validation', 'scheduler']),
  allow('simulator', ['shared']),
  allow('statements', ['normalization', 'domain', 'shared']),
  allow('main', ['*']),
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
