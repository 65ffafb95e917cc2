/**
 * Keeps README's "Limits and timeouts" table honest: each row names a constant and the file that
 * defines it; the constant's value in that file must be the row's default. The source is read as
 * text (most of these constants are private to their module), and the initializer evaluated by
 * a small arithmetic parser: numbers, `_` separators, + - * ** << and parentheses.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

interface Row {
  limit: string;
  value: number;
  name: string;
  file: string;
}

const UNITS: Record<string, number> = {
  "": 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  ms: 1,
  s: 1000,
  h: 3600 * 1000,
};

/** `32 MiB`, `1,000,000`, `30 s`, `24 h`, `500 ms` → bytes, a count, or milliseconds. */
export function parseQuantity(text: string): number {
  const m = /^([\d,]+)(?: (KiB|MiB|GiB|ms|s|h))?$/.exec(text.trim());
  assert.ok(m !== null, `"${text}" is not a quantity the table uses`);
  return Number((m[1] ?? "").replace(/,/g, "")) * (UNITS[m[2] ?? ""] ?? NaN);
}

/** An arithmetic initializer such as `4 * 1024 * 1024`, `(1 << 20) + 64`, `256 * 1024 ** 3`. */
export function evaluate(expr: string): number {
  const tokens = expr.match(/\d[\d_]*|\*\*|<<|[-+*()]/g) ?? [];
  assert.equal(tokens.join(""), expr.replace(/\s+/g, ""), `"${expr}" is not plain arithmetic`);
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const atom = (): number => {
    const t = tokens[i++];
    if (t === "(") {
      const v = shift();
      assert.equal(tokens[i++], ")");
      return v;
    }
    assert.ok(t !== undefined && /^\d/.test(t), `unexpected "${t}" in "${expr}"`);
    return Number(t.replace(/_/g, ""));
  };
  const power = (): number => {
    const base = atom();
    if (peek() !== "**") return base;
    i++;
    return base ** power();
  };
  const product = (): number => {
    let v = power();
    while (peek() === "*") {
      i++;
      v *= power();
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === "+" || peek() === "-") v = tokens[i++] === "+" ? v + product() : v - product();
    return v;
  };
  const shift = (): number => {
    let v = sum();
    while (peek() === "<<") {
      i++;
      v = v * 2 ** sum();
    }
    return v;
  };
  const v = shift();
  assert.equal(i, tokens.length, `trailing tokens in "${expr}"`);
  return v;
}

/** The value `NAME` (or `OBJECT.key`) has in `source`. */
function constantValue(source: string, name: string): number {
  const [object, key] = name.split(".");
  let expr: string | undefined;
  if (key === undefined) {
    // `;`-terminated (ours) or not (tar-stream's, followed by a comment).
    expr = new RegExp(`\\b${name}(?::[^=]+)? = ([^;\\n]+?)\\s*(?:;|//|\\n)`).exec(source)?.[1];
  } else {
    const body = new RegExp(`\\b${object} = \\{([^}]*)\\}`).exec(source)?.[1];
    expr = body === undefined ? undefined : new RegExp(`\\b${key}: ([^,\\n}]+)`).exec(body)?.[1];
  }
  assert.ok(expr !== undefined, `no initializer for ${name}`);
  return evaluate(expr.trim());
}

function rows(): Row[] {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const start = readme.indexOf("<!-- limits:start");
  const end = readme.indexOf("<!-- limits:end -->");
  assert.ok(start >= 0 && end > start, "README has the limits table");
  return readme
    .slice(start, end)
    .split("\n")
    .filter((l) => l.startsWith("| ") && !l.startsWith("| limit") && !l.startsWith("| ---"))
    .map((line) => {
      const cells = line
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim());
      const constant = /^`([\w.]+)` (\S+)$/.exec(cells[2] ?? "");
      assert.ok(constant !== null, `row names a constant and its file: ${line}`);
      return {
        limit: cells[0] ?? "",
        value: parseQuantity(cells[1] ?? ""),
        name: constant[1] ?? "",
        file: constant[2] ?? "",
      };
    });
}

test("the arithmetic evaluator reads the initializers the source uses", () => {
  assert.equal(evaluate("4 * 1024 * 1024"), 4 * 1024 * 1024);
  assert.equal(evaluate("(1 << 20) + 64"), 1048640);
  assert.equal(evaluate("256 * 1024 ** 3"), 256 * 1024 ** 3);
  assert.equal(evaluate("24 * 3600 * 1000"), 86_400_000);
  assert.equal(evaluate("120_000"), 120000);
  assert.throws(() => evaluate("Number.MAX_SAFE_INTEGER"));
  assert.equal(parseQuantity("32 MiB"), 32 * 1024 ** 2);
  assert.equal(parseQuantity("1,000,000"), 1e6);
  assert.equal(parseQuantity("500 ms"), 500);
  assert.equal(parseQuantity("24 h"), 86_400_000);
});

test("README's limits table: every default is the value of the constant it names", () => {
  const table = rows();
  assert.ok(table.length >= 30, `${table.length} rows`);
  for (const row of table) {
    const source = readFileSync(`${root}${row.file}`, "utf8");
    assert.equal(row.value, constantValue(source, row.name), `${row.limit} (${row.name} in ${row.file})`);
  }
});

test("the limits the tests rely on are the exported constants", async () => {
  const { MAX_ZSTD_WINDOW } = await import("../src/decompress.js");
  const { MAX_SPARSE_EXPANSION, MAX_SPARSE_SEGMENTS } = await import("../src/tar/index.js");
  const { DEFAULT_MAX_RATIO, DEFAULT_RATIO_ALLOWANCE } = await import("../src/oci/layer-stream.js");
  const byName = new Map(rows().map((r) => [r.name, r.value]));
  assert.equal(byName.get("MAX_ZSTD_WINDOW"), MAX_ZSTD_WINDOW);
  assert.equal(byName.get("MAX_SPARSE_EXPANSION"), MAX_SPARSE_EXPANSION);
  assert.equal(byName.get("MAX_SPARSE_SEGMENTS"), MAX_SPARSE_SEGMENTS);
  assert.equal(byName.get("DEFAULT_MAX_RATIO"), DEFAULT_MAX_RATIO);
  assert.equal(byName.get("DEFAULT_RATIO_ALLOWANCE"), DEFAULT_RATIO_ALLOWANCE);
});
