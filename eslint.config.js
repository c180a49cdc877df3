// Lint rules, including the layering of docs/ARCHITECTURE.md: code under src/ is pure (no Node, no
// clocks, no randomness, no I/O libraries) except in `io/` folders and the composition roots in
// src/bin; pure code never imports from an `io/` folder.
import path from "node:path";
import tseslint from "typescript-eslint";
import importX from "eslint-plugin-import-x";

const NODE_MODULES = [
  "assert",
  "async_hooks",
  "buffer",
  "child_process",
  "cluster",
  "crypto",
  "dgram",
  "dns",
  "events",
  "fs",
  "fs/promises",
  "http",
  "http2",
  "https",
  "inspector",
  "module",
  "net",
  "os",
  "path",
  "perf_hooks",
  "process",
  "readline",
  "stream",
  "string_decoder",
  "timers",
  "tls",
  "tty",
  "url",
  "util",
  "v8",
  "vm",
  "worker_threads",
  "zlib",
];

const pureImportBan = {
  patterns: [
    { group: ["node:*"], message: "pure layers do no I/O: use a port from src/platform/ports.ts" },
    {
      group: ["lmdb", "@duckdb/*", "smol-toml", "fs-native-extensions"],
      message: "I/O libraries belong in an io/ folder",
    },
    {
      group: ["**/io/*", "**/bin/*"],
      message: "pure code does not import I/O: take a port (src/platform/ports.ts)",
    },
  ],
  paths: NODE_MODULES.map((name) => ({ name, message: "pure layers do no I/O" })),
};

const determinismBans = [
  { name: "Date", message: "time is an input: take it from a record or a Clock port" },
  { name: "setTimeout", message: "timers are effects: use the Clock port" },
  { name: "setInterval", message: "timers are effects: use the Clock port" },
  { name: "setImmediate", message: "timers are effects: use the Clock port" },
  { name: "process", message: "no process access in the pure layers" },
  { name: "Buffer", message: "use Uint8Array and src/core/bytes.ts" },
  { name: "performance", message: "time is an input" },
];

/**
 * Folders talk through their entry modules: code in src/<folder> imports another folder only from
 * its `index.ts` (pure surface) or `io/index.ts` (Node surface), never from its files. Tests may
 * reach inside.
 */
const folderSurfaces = {
  meta: {
    type: "problem",
    messages: { deep: "{{target}} is inside {{folder}}: import it from {{entry}}" },
  },
  create(context) {
    const src = path.join(import.meta.dirname, "src");
    const file = context.filename;
    if (!file.startsWith(src + path.sep) || file.endsWith(".test.ts")) return {};
    const surfaceOf = (abs) => {
      const parts = path.relative(src, abs).split(path.sep);
      return parts.includes("io") ? `${parts[0]}/io` : parts[0];
    };
    const own = surfaceOf(file);
    const check = (source) => {
      if (source?.type !== "Literal" || typeof source.value !== "string") return;
      if (!source.value.startsWith(".")) return;
      const target = path.resolve(path.dirname(file), source.value).replace(/\.js$/, ".ts");
      if (!target.startsWith(src + path.sep)) return;
      const folder = surfaceOf(target);
      if (folder === own || folder === "gen") return;
      const entry = path.join(src, folder, "index.ts");
      if (target === entry) return;
      context.report({
        node: source,
        messageId: "deep",
        data: {
          target: path.relative(src, target),
          folder,
          entry: path.relative(import.meta.dirname, entry),
        },
      });
    };
    return {
      ImportDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
    };
  },
};

export default tseslint.config(
  {
    ignores: [
      "dist/**",
      "src/gen/**",
      "node_modules/**",
      "bench/**",
      "scripts/**",
      // A separate project, with its own dependencies (tested by test/e2e/testkit_package.test.ts).
      "examples/testing/**",
      "eslint.config.js",
      // The web UI's build configuration (its sources, ui/src, are linted with ui/tsconfig.json).
      "ui/vite.config.mjs",
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "import-x": importX, keel: { rules: { "folder-surfaces": folderSurfaces } } },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            {
              from: "package",
              name: ["describe", "it", "test", "suite", "before", "after"],
              package: "node:test",
            },
          ],
        },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": [
        "error",
        { considerDefaultExhaustiveForUnions: true },
      ],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allowBoolean: true, allowNullish: true },
      ],
      eqeqeq: ["error", "always"],
      "import-x/no-cycle": ["error", { maxDepth: 12 }],
      "keel/folder-surfaces": "error",
      "import-x/no-duplicates": ["error", { "prefer-inline": true }],
    },
  },
  {
    // Everything under src/ is pure but the `io/` folders, the composition roots and generated code.
    files: ["src/**/*.ts"],
    // Unit tests sit beside their sources and need node:test and node:assert.
    // The test kit (src/testing) composes a whole node inside a user's test, as bin/ does.
    ignores: ["**/*.test.ts", "src/**/io/**", "src/bin/**", "src/testing/**", "src/gen/**"],
    rules: {
      "no-restricted-imports": ["error", pureImportBan],
      "no-restricted-globals": [
        "error",
        ...determinismBans,
        { name: "crypto", message: "randomness is an input" },
      ],
      "no-restricted-properties": [
        "error",
        { object: "Math", property: "random", message: "randomness is an input: take a Prng" },
      ],
    },
  },
  {
    files: ["**/*.test.ts", "test/**"],
    rules: {
      // Tests of pure layers may use Node's test runner and assertions.
      "no-restricted-imports": "off",
      "no-restricted-globals": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
    },
  },
);
