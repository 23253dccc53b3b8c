/**
 * A Store that passes every call to another after calling a hook with the
 * method's name: for fault injection (the hook throws, as a full disk would)
 * and for watching what the server writes when.
 *
 * @module
 */

import type { DeliveredMsg } from "../lib/protocol/messages.ts";
import type { Account, OfflineMessage, RoomMembership, Store } from "../lib/store/store.ts";

/** Called before each store method with its name; throw to make the call fail. */
export type StoreHook = (method: keyof Store) => void;

/** Wraps `inner`, calling `hook` before each method. */
export class HookedStore implements Store {
  readonly #inner: Store;
  hook: StoreHook;

  constructor(inner: Store, hook: StoreHook = () => {}) {
    this.#inner = inner;
    this.hook = hook;
  }

  async #call<T>(method: keyof Store, run: () => Promise<T>): Promise<T> {
    this.hook(method);
    return await run();
  }

  createAccount(name: string, passwordHash: string): Promise<boolean> {
    return this.#call("createAccount", () => this.#inner.createAccount(name, passwordHash));
  }
  getAccount(name: string): Promise<Account | null> {
    return this.#call("getAccount", () => this.#inner.getAccount(name));
  }
  setBlocked(name: string, blocked: boolean): Promise<boolean> {
    return this.#call("setBlocked", () => this.#inner.setBlocked(name, blocked));
  }
  setPassword(name: string, passwordHash: string): Promise<boolean> {
    return this.#call("setPassword", () => this.#inner.setPassword(name, passwordHash));
  }
  deleteAccount(name: string): Promise<boolean> {
    return this.#call("deleteAccount", () => this.#inner.deleteAccount(name));
  }
  addToken(account: string, hash: string, expiresAt: number, keep: number): Promise<void> {
    return this.#call("addToken", () => this.#inner.addToken(account, hash, expiresAt, keep));
  }
  tokenAccount(hash: string, now: number): Promise<string | null> {
    return this.#call("tokenAccount", () => this.#inner.tokenAccount(hash, now));
  }
  revokeTokens(account: string): Promise<number> {
    return this.#call("revokeTokens", () => this.#inner.revokeTokens(account));
  }
  listAccounts(): Promise<Account[]> {
    return this.#call("listAccounts", () => this.#inner.listAccounts());
  }
  listBlocked(): Promise<string[]> {
    return this.#call("listBlocked", () => this.#inner.listBlocked());
  }
  enqueueOffline(to: string, message: DeliveredMsg, limit: number): Promise<boolean> {
    return this.#call("enqueueOffline", () => this.#inner.enqueueOffline(to, message, limit));
  }
  peekOffline(to: string, max: number): Promise<OfflineMessage[]> {
    return this.#call("peekOffline", () => this.#inner.peekOffline(to, max));
  }
  ackOffline(to: string, lastId: number): Promise<void> {
    return this.#call("ackOffline", () => this.#inner.ackOffline(to, lastId));
  }
  countOffline(to: string): Promise<number> {
    return this.#call("countOffline", () => this.#inner.countOffline(to));
  }
  listRoomMemberships(): Promise<RoomMembership[]> {
    return this.#call("listRoomMemberships", () => this.#inner.listRoomMemberships());
  }
  addRoomMember(room: string, account: string): Promise<void> {
    return this.#call("addRoomMember", () => this.#inner.addRoomMember(room, account));
  }
  addRoomMembers(rooms: Iterable<string>, account: string): Promise<void> {
    return this.#call("addRoomMembers", () => this.#inner.addRoomMembers(rooms, account));
  }
  removeRoomMember(room: string, account: string): Promise<void> {
    return this.#call("removeRoomMember", () => this.#inner.removeRoomMember(room, account));
  }
  listContacts(account: string): Promise<string[]> {
    return this.#call("listContacts", () => this.#inner.listContacts(account));
  }
  addContact(account: string, contact: string): Promise<void> {
    return this.#call("addContact", () => this.#inner.addContact(account, contact));
  }
  removeContact(account: string, contact: string): Promise<boolean> {
    return this.#call("removeContact", () => this.#inner.removeContact(account, contact));
  }
  close(): Promise<void> {
    return this.#call("close", () => this.#inner.close());
  }
}
