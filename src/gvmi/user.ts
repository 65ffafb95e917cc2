/**
 * Resolve an image's USER (`name`, `uid`, `name:group`, `uid:gid`, …) into the `uid:gid` form the
 * Golem VM runtime accepts (ya-runtime-vm deploy.rs `parse_user`: two u32s split at the first `:`;
 * anything else runs as 0:0). Resolution follows Docker/runc (moby/sys/user `GetExecUser`): names
 * must exist in the image's own /etc/passwd and /etc/group; a numeric uid absent from passwd is
 * allowed with gid 0; without a group part the gid is the user's primary group from passwd.
 */
import { GvmiUserResolutionError } from "./errors.js";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
}

const ID = /^[0-9]+$/;
const MAX_ID = 0xffffffff;

function parseId(text: string): number | undefined {
  if (!ID.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_ID ? n : undefined;
}

function decode(content: string | Uint8Array | undefined): string {
  if (content === undefined) return "";
  return typeof content === "string" ? content : new TextDecoder().decode(content);
}

/** Parse /etc/passwd content; malformed lines are skipped (as libc does). */
export function parsePasswd(content: string | Uint8Array | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of decode(content).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    const uid = parseId(f[2] ?? "");
    const gid = parseId(f[3] ?? "");
    if (f[0] && uid !== undefined && gid !== undefined) out.push({ name: f[0], uid, gid });
  }
  return out;
}

/** Parse /etc/group content; malformed lines are skipped. */
export function parseGroup(content: string | Uint8Array | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of decode(content).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    const gid = parseId(f[2] ?? "");
    if (f[0] && gid !== undefined) out.push({ name: f[0], gid });
  }
  return out;
}

/**
 * `user` → `"uid:gid"`. Returns undefined for an empty USER (the runtime's default, root).
 * Throws GvmiUserResolutionError for a name missing from the image's files.
 */
export function resolveUser(
  user: string,
  files: { passwd?: string | Uint8Array; group?: string | Uint8Array },
): string | undefined {
  const spec = user.trim();
  if (spec === "") return undefined;
  const colon = spec.indexOf(":");
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  const passwd = parsePasswd(files.passwd);

  let uid: number;
  let gid = 0;
  const numericUid = parseId(userPart);
  if (numericUid !== undefined) {
    uid = numericUid;
    const entry = passwd.find((e) => e.uid === numericUid);
    if (entry) gid = entry.gid;
  } else {
    const entry = passwd.find((e) => e.name === userPart);
    if (!entry) {
      throw new GvmiUserResolutionError(
        user,
        files.passwd === undefined
          ? `USER ${JSON.stringify(user)} names a user, but the image has no /etc/passwd`
          : `USER ${JSON.stringify(user)}: no user ${JSON.stringify(userPart)} in the image's /etc/passwd`,
      );
    }
    uid = entry.uid;
    gid = entry.gid;
  }

  if (groupPart !== undefined && groupPart !== "") {
    const numericGid = parseId(groupPart);
    if (numericGid !== undefined) {
      gid = numericGid;
    } else {
      const entry = parseGroup(files.group).find((e) => e.name === groupPart);
      if (!entry) {
        throw new GvmiUserResolutionError(
          user,
          `USER ${JSON.stringify(user)}: no group ${JSON.stringify(groupPart)} in the image's /etc/group`,
        );
      }
      gid = entry.gid;
    }
  }
  return `${uid}:${gid}`;
}
