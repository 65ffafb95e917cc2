/**
 * For a test that something does not hang: what `promise` came to, as a string to assert on
 * (`ok` of its value, `failed` of its error), or `still waiting after N ms` once `ms` have passed,
 * so the test fails with a message instead of hanging itself.
 */
export async function outcomeWithin<T>(
  promise: Promise<T>,
  ms: number,
  ok: (value: T) => string,
  failed: (err: unknown) => string,
): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(ok, failed),
      new Promise<string>(
        (resolve) => (timer = setTimeout(() => resolve(`still waiting after ${ms} ms`), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
