// Flat config: typescript-eslint's recommended rules over sources, tests and benchmarks, plus the
// boundary of the CLI: it uses the library only through the package's public entry points.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** What src/cli may import outside itself: the package's public entry points (see package.json "exports"). */
const PUBLIC_ENTRY = "(index|errors)\\.js$";
const outside = (up) => ({
  regex: `^${"\\.\\./".repeat(up)}(?!${PUBLIC_ENTRY})`,
  message: "src/cli uses the library only through its public entry points (src/index.ts, src/errors.ts)",
});

export default tseslint.config(
  { ignores: ["dist/**", "build/**", "node_modules/**", "bench/out/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  // Type-aware rules for a promise-heavy codebase: a promise nobody awaits loses its failure (and,
  // in a stream pump, its backpressure); a promise where a callback's boolean or void is expected
  // is never awaited by whoever calls it. One program over src, test and bench (tsconfig.test.json).
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: { project: ["./tsconfig.test.json"], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        // node:test's test() and describe() are awaited by the runner itself.
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] },
          ],
        },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
    },
  },
  {
    files: ["src/cli/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [outside(1)] }] },
  },
  {
    files: ["src/cli/commands/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [outside(2)] }] },
  },
  {
    files: ["src/cli/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: `ImportExpression[source.value=/^\\.\\.\\/(\\.\\.\\/)?(?!${PUBLIC_ENTRY})/]`,
          message: "src/cli loads the library only through its public entry points (see src/cli/library.ts)",
        },
      ],
    },
  },
);
