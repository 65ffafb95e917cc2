/**
 * The one rule by which every tar consumer (the layer reader, the docker-save/OCI archive index)
 * turns a member name into an image path, so a name means the same file wherever it is read.
 */

/**
 * Normalizes an archive path to an image path: '/'-separated components, leading `/` and `./`
 * dropped (absolute names are relative to the image root), empty and `.` components removed,
 * `..` resolved lexically and clamped at the root: `../x`, `/x` and `a/../../x` are all `x`, so a
 * name can never escape the root. The root itself is "".
 */
export function normalizeTarPath(name: string): string {
  // Most names are already clean but for a leading `./` (what `tar -C dir -cf - .` writes) and a
  // trailing `/` on directories: those are returned as they are, without splitting and joining.
  const start = name.startsWith("./") ? 2 : 0;
  const end = name.endsWith("/") ? name.length - 1 : name.length;
  const simple = name.slice(start, end);
  if (simple !== "" && simple[0] !== "/" && !simple.endsWith("/") && !UNCLEAN.test(simple)) return simple;
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

/** An empty, `.` or `..` component inside a name. */
const UNCLEAN = /\/\/|(?:^|\/)\.\.?(?:\/|$)/;
