/**
 * The bounded read of persistent room memberships that every store does at
 * start: one pass over memberships in key order (room, then account).
 *
 * @module
 */

import type { RoomLimits, RoomMembership } from "./store.ts";

/**
 * Keeps each account's first `perAccount` rooms by name and the first
 * `rooms` rooms in all, stopping at the first room past that limit: only
 * what is kept, and a count per account, is ever in memory.
 *
 * @param rows memberships ordered by room, then account
 */
export function limitRoomMemberships(
  rows: Iterable<RoomMembership>,
  limits: RoomLimits = {},
): RoomMembership[] {
  const { perAccount = Infinity, rooms = Infinity } = limits;
  const kept: RoomMembership[] = [];
  const counts = new Map<string, number>();
  let roomsKept = 0;
  let current: string | null = null;
  let currentKept = false;
  for (const { room, account } of rows) {
    const n = counts.get(account) ?? 0;
    if (n >= perAccount) continue;
    if (room !== current) {
      current = room;
      currentKept = false;
    }
    if (!currentKept) {
      if (roomsKept >= rooms) break;
      roomsKept++;
      currentKept = true;
    }
    if (perAccount !== Infinity) counts.set(account, n + 1);
    kept.push({ room, account });
  }
  return kept;
}
