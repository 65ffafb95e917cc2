/**
 * The registry's image name, `[user/]repository[:tag]`, with gvmkit-build-rs's rules
 * (src/image/name.rs `ImageName::from_str_name`): ASCII letters, digits, `-_./:`, at least one
 * alphanumeric, at most one `/` and one `:`, no leading `/` or `:`, tag defaults to `latest`.
 * Attaching needs the user part (the registry's namespace).
 */
import { PushTargetError } from "./errors.js";

export interface PushTarget {
  user: string | undefined;
  repository: string;
  tag: string;
}

export function parsePushTarget(name: string): PushTarget {
  const bad = (why: string) =>
    new PushTargetError(name, `invalid image name ${JSON.stringify(name)}: ${why}`);
  const invalid = /[^A-Za-z0-9\-_./:]/.exec(name);
  if (invalid) throw bad(`character ${JSON.stringify(invalid[0])} is not allowed`);
  if (!/[A-Za-z0-9]/.test(name)) throw bad("it must contain letters or digits");
  if (name.startsWith(":") || name.startsWith("/")) throw bad("it cannot start with ':' or '/'");
  if (name.split(":").length > 2) throw bad("':' can occur only once");
  if (name.split("/").length > 2) throw bad("'/' can occur only once");
  const [base = "", tag = "latest"] = name.split(":");
  if (tag === "") throw bad("the tag cannot be empty");
  const slash = base.indexOf("/");
  const user = slash < 0 ? undefined : base.slice(0, slash);
  const repository = slash < 0 ? base : base.slice(slash + 1);
  if (user === "" || repository === "") throw bad("user and repository cannot be empty");
  return { user, repository, tag };
}

/** `user/repository:tag` (or `repository:tag`). */
export function formatPushTarget(t: PushTarget): string {
  return `${t.user ? t.user + "/" : ""}${t.repository}:${t.tag}`;
}
