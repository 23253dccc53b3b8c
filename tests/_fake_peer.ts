/**
 * A peer without a socket for tests of the hub and its parts: it records
 * what it is sent and how it was closed.
 *
 * @module
 */

import type { Outgoing } from "../lib/protocol/codec.ts";
import type { Peer, Pin } from "../lib/server/sessions.ts";

/** A peer that keeps what it is sent, and refuses once `room` objects are queued or it is closed. */
export class RecordingPeer implements Peer {
  readonly address: string;
  readonly room: number;
  // deno-lint-ignore no-explicit-any
  readonly sent: Record<string, any>[] = [];
  /** Why it was closed or aborted, or null while open. */
  closed: string | null = null;
  /** Why it was aborted (dropped without a flush), or null. */
  aborted: string | null = null;

  constructor(options: { address?: string; room?: number } = {}) {
    this.address = options.address ?? "127.0.0.1";
    this.room = options.room ?? Infinity;
  }

  send(message: Outgoing): boolean {
    if (this.closed !== null || this.sent.length >= this.room) return false;
    this.sent.push(message.value as Record<string, unknown>);
    return true;
  }

  drain(): Promise<boolean> {
    return Promise.resolve(this.closed === null);
  }

  close(reason: string): void {
    this.closed = reason;
  }

  abort(reason: string): void {
    this.aborted = this.closed = reason;
  }
  // Written at once: nothing is ever held back.
  pin(): Pin {
    return "gone";
  }
  unpin(): boolean {
    return false;
  }
}
