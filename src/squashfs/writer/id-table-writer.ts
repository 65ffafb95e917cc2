/**
 * Collecting the id table while inodes are built: each distinct uid/gid gets the next index, and
 * the table is written in that order (format/id-table.ts has the record).
 */
import { SquashfsTooManyIdsError } from "../errors.js";
import { encodeIdEntry, MAX_IDS } from "../format/id-table.js";

/** Hands out indices in first-use order, which is deterministic for a deterministic walk. */
export class IdTable {
  readonly #index = new Map<number, number>();
  readonly ids: number[] = [];

  indexOf(id: number): number {
    let i = this.#index.get(id);
    if (i === undefined) {
      encodeIdEntry(id); // range check before the id is accepted
      i = this.ids.length;
      if (i >= MAX_IDS) throw new SquashfsTooManyIdsError(i + 1);
      this.#index.set(id, i);
      this.ids.push(id);
    }
    return i;
  }

  records(): Uint8Array[] {
    return this.ids.map(encodeIdEntry);
  }
}
