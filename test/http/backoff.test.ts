import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, parseRetryAfter, resolveRetryOptions, RETRY_DEFAULTS } from "../../src/http/index.js";

test("the backoff sequence is deterministic with an injected random: doubling, equal jitter, capped", () => {
  const opts = { retryDelayMs: 100, maxRetryDelayMs: 1000 };
  const at = (r: number) => [0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, { ...opts, random: () => r }));
  assert.deepEqual(at(0), [50, 100, 200, 400, 500, 500], "lower bound: half the step");
  assert.deepEqual(at(0.5), [75, 150, 300, 600, 750, 750]);
  assert.deepEqual(
    at(0.999999),
    [100, 200, 400, 800, 1000, 1000],
    "upper bound: the whole step, never past the cap",
  );
});

test("Retry-After wins over the rule, in seconds or as an HTTP date, bounded by maxRetryAfterMs", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(backoffDelay(0, {}, "2", now), 2000);
  assert.equal(backoffDelay(3, {}, ["1"], now), 1000);
  assert.equal(backoffDelay(0, {}, "Thu, 01 Jan 2026 00:00:07 GMT", now), 7000);
  assert.equal(backoffDelay(0, {}, "3600", now), RETRY_DEFAULTS.maxRetryAfterMs);
  assert.equal(backoffDelay(0, { maxRetryAfterMs: 50 }, "3600", now), 50);
  // Unreadable: the rule applies.
  assert.equal(backoffDelay(0, { retryDelayMs: 100, random: () => 0 }, "soon", now), 50);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now), 0, "a date in the past means now");
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test("documented defaults", () => {
  const o = resolveRetryOptions();
  assert.deepEqual(
    {
      retries: o.retries,
      retryDelayMs: o.retryDelayMs,
      maxRetryDelayMs: o.maxRetryDelayMs,
      maxRetryAfterMs: o.maxRetryAfterMs,
    },
    { retries: 5, retryDelayMs: 500, maxRetryDelayMs: 30_000, maxRetryAfterMs: 60_000 },
  );
  assert.equal(resolveRetryOptions({ retries: undefined }).retries, 5, "undefined counts as absent");
});
