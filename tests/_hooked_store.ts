/**
 * A Store that passes every call to another after calling a hook with the
 * method's name: for fault injection (the hook throws, as a full disk would)
 * and for watching what the server writes when.
 *
 * @module
 */

import type { Store } from "../lib/store/store.ts";

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

  createAccount(...args: Parameters<Store["createAccount"]>): ReturnType<Store["createAccount"]> {
    return this.#call("createAccount", () => this.#inner.createAccount(...args)) as ReturnType<
      Store["createAccount"]
    >;
  }
  getAccount(...args: Parameters<Store["getAccount"]>): ReturnType<Store["getAccount"]> {
    return this.#call("getAccount", () => this.#inner.getAccount(...args)) as ReturnType<
      Store["getAccount"]
    >;
  }
  accountLike(...args: Parameters<Store["accountLike"]>): ReturnType<Store["accountLike"]> {
    return this.#call("accountLike", () => this.#inner.accountLike(...args)) as ReturnType<
      Store["accountLike"]
    >;
  }
  setBlocked(...args: Parameters<Store["setBlocked"]>): ReturnType<Store["setBlocked"]> {
    return this.#call("setBlocked", () => this.#inner.setBlocked(...args)) as ReturnType<
      Store["setBlocked"]
    >;
  }
  setPassword(...args: Parameters<Store["setPassword"]>): ReturnType<Store["setPassword"]> {
    return this.#call("setPassword", () => this.#inner.setPassword(...args)) as ReturnType<
      Store["setPassword"]
    >;
  }
  deleteAccount(...args: Parameters<Store["deleteAccount"]>): ReturnType<Store["deleteAccount"]> {
    return this.#call("deleteAccount", () => this.#inner.deleteAccount(...args)) as ReturnType<
      Store["deleteAccount"]
    >;
  }
  addToken(...args: Parameters<Store["addToken"]>): ReturnType<Store["addToken"]> {
    return this.#call("addToken", () => this.#inner.addToken(...args)) as ReturnType<
      Store["addToken"]
    >;
  }
  tokenAccount(...args: Parameters<Store["tokenAccount"]>): ReturnType<Store["tokenAccount"]> {
    return this.#call("tokenAccount", () => this.#inner.tokenAccount(...args)) as ReturnType<
      Store["tokenAccount"]
    >;
  }
  revokeTokens(...args: Parameters<Store["revokeTokens"]>): ReturnType<Store["revokeTokens"]> {
    return this.#call("revokeTokens", () => this.#inner.revokeTokens(...args)) as ReturnType<
      Store["revokeTokens"]
    >;
  }
  listAccounts(...args: Parameters<Store["listAccounts"]>): ReturnType<Store["listAccounts"]> {
    return this.#call("listAccounts", () => this.#inner.listAccounts(...args)) as ReturnType<
      Store["listAccounts"]
    >;
  }
  listBlocked(...args: Parameters<Store["listBlocked"]>): ReturnType<Store["listBlocked"]> {
    return this.#call("listBlocked", () => this.#inner.listBlocked(...args)) as ReturnType<
      Store["listBlocked"]
    >;
  }
  enqueueOffline(
    ...args: Parameters<Store["enqueueOffline"]>
  ): ReturnType<Store["enqueueOffline"]> {
    return this.#call("enqueueOffline", () => this.#inner.enqueueOffline(...args)) as ReturnType<
      Store["enqueueOffline"]
    >;
  }
  peekOffline(...args: Parameters<Store["peekOffline"]>): ReturnType<Store["peekOffline"]> {
    return this.#call("peekOffline", () => this.#inner.peekOffline(...args)) as ReturnType<
      Store["peekOffline"]
    >;
  }
  ackOffline(...args: Parameters<Store["ackOffline"]>): ReturnType<Store["ackOffline"]> {
    return this.#call("ackOffline", () => this.#inner.ackOffline(...args)) as ReturnType<
      Store["ackOffline"]
    >;
  }
  holdOffline(...args: Parameters<Store["holdOffline"]>): ReturnType<Store["holdOffline"]> {
    return this.#call("holdOffline", () => this.#inner.holdOffline(...args)) as ReturnType<
      Store["holdOffline"]
    >;
  }
  dropOffline(...args: Parameters<Store["dropOffline"]>): ReturnType<Store["dropOffline"]> {
    return this.#call("dropOffline", () => this.#inner.dropOffline(...args)) as ReturnType<
      Store["dropOffline"]
    >;
  }
  countOffline(...args: Parameters<Store["countOffline"]>): ReturnType<Store["countOffline"]> {
    return this.#call("countOffline", () => this.#inner.countOffline(...args)) as ReturnType<
      Store["countOffline"]
    >;
  }
  listRoomMemberships(
    ...args: Parameters<Store["listRoomMemberships"]>
  ): ReturnType<Store["listRoomMemberships"]> {
    return this.#call(
      "listRoomMemberships",
      () => this.#inner.listRoomMemberships(...args),
    ) as ReturnType<Store["listRoomMemberships"]>;
  }
  addRoomMember(...args: Parameters<Store["addRoomMember"]>): ReturnType<Store["addRoomMember"]> {
    return this.#call("addRoomMember", () => this.#inner.addRoomMember(...args)) as ReturnType<
      Store["addRoomMember"]
    >;
  }
  addRoomMembers(
    ...args: Parameters<Store["addRoomMembers"]>
  ): ReturnType<Store["addRoomMembers"]> {
    return this.#call("addRoomMembers", () => this.#inner.addRoomMembers(...args)) as ReturnType<
      Store["addRoomMembers"]
    >;
  }
  removeRoomMember(
    ...args: Parameters<Store["removeRoomMember"]>
  ): ReturnType<Store["removeRoomMember"]> {
    return this.#call(
      "removeRoomMember",
      () => this.#inner.removeRoomMember(...args),
    ) as ReturnType<Store["removeRoomMember"]>;
  }
  listRooms(...args: Parameters<Store["listRooms"]>): ReturnType<Store["listRooms"]> {
    return this.#call("listRooms", () => this.#inner.listRooms(...args)) as ReturnType<
      Store["listRooms"]
    >;
  }
  dropHistory(...args: Parameters<Store["dropHistory"]>): ReturnType<Store["dropHistory"]> {
    return this.#call("dropHistory", () => this.#inner.dropHistory(...args)) as ReturnType<
      Store["dropHistory"]
    >;
  }
  setTopic(...args: Parameters<Store["setTopic"]>): ReturnType<Store["setTopic"]> {
    return this.#call("setTopic", () => this.#inner.setTopic(...args)) as ReturnType<
      Store["setTopic"]
    >;
  }
  appendHistory(...args: Parameters<Store["appendHistory"]>): ReturnType<Store["appendHistory"]> {
    return this.#call("appendHistory", () => this.#inner.appendHistory(...args)) as ReturnType<
      Store["appendHistory"]
    >;
  }
  readHistory(...args: Parameters<Store["readHistory"]>): ReturnType<Store["readHistory"]> {
    return this.#call("readHistory", () => this.#inner.readHistory(...args)) as ReturnType<
      Store["readHistory"]
    >;
  }
  pruneHistory(...args: Parameters<Store["pruneHistory"]>): ReturnType<Store["pruneHistory"]> {
    return this.#call("pruneHistory", () => this.#inner.pruneHistory(...args)) as ReturnType<
      Store["pruneHistory"]
    >;
  }
  lastHistoryId(...args: Parameters<Store["lastHistoryId"]>): ReturnType<Store["lastHistoryId"]> {
    return this.#call("lastHistoryId", () => this.#inner.lastHistoryId(...args)) as ReturnType<
      Store["lastHistoryId"]
    >;
  }
  countRoomHistory(
    ...args: Parameters<Store["countRoomHistory"]>
  ): ReturnType<Store["countRoomHistory"]> {
    return this.#call(
      "countRoomHistory",
      () => this.#inner.countRoomHistory(...args),
    ) as ReturnType<Store["countRoomHistory"]>;
  }
  setLastSeen(...args: Parameters<Store["setLastSeen"]>): ReturnType<Store["setLastSeen"]> {
    return this.#call("setLastSeen", () => this.#inner.setLastSeen(...args)) as ReturnType<
      Store["setLastSeen"]
    >;
  }
  setContactsOnly(
    ...args: Parameters<Store["setContactsOnly"]>
  ): ReturnType<Store["setContactsOnly"]> {
    return this.#call("setContactsOnly", () => this.#inner.setContactsOnly(...args)) as ReturnType<
      Store["setContactsOnly"]
    >;
  }
  hasContact(...args: Parameters<Store["hasContact"]>): ReturnType<Store["hasContact"]> {
    return this.#call("hasContact", () => this.#inner.hasContact(...args)) as ReturnType<
      Store["hasContact"]
    >;
  }
  listContacts(...args: Parameters<Store["listContacts"]>): ReturnType<Store["listContacts"]> {
    return this.#call("listContacts", () => this.#inner.listContacts(...args)) as ReturnType<
      Store["listContacts"]
    >;
  }
  addContact(...args: Parameters<Store["addContact"]>): ReturnType<Store["addContact"]> {
    return this.#call("addContact", () => this.#inner.addContact(...args)) as ReturnType<
      Store["addContact"]
    >;
  }
  setPublicKey(...args: Parameters<Store["setPublicKey"]>): ReturnType<Store["setPublicKey"]> {
    return this.#call("setPublicKey", () => this.#inner.setPublicKey(...args)) as ReturnType<
      Store["setPublicKey"]
    >;
  }
  getPublicKey(...args: Parameters<Store["getPublicKey"]>): ReturnType<Store["getPublicKey"]> {
    return this.#call("getPublicKey", () => this.#inner.getPublicKey(...args)) as ReturnType<
      Store["getPublicKey"]
    >;
  }
  addContacts(...args: Parameters<Store["addContacts"]>): ReturnType<Store["addContacts"]> {
    return this.#call("addContacts", () => this.#inner.addContacts(...args)) as ReturnType<
      Store["addContacts"]
    >;
  }
  removeContact(...args: Parameters<Store["removeContact"]>): ReturnType<Store["removeContact"]> {
    return this.#call("removeContact", () => this.#inner.removeContact(...args)) as ReturnType<
      Store["removeContact"]
    >;
  }
  close(...args: Parameters<Store["close"]>): ReturnType<Store["close"]> {
    return this.#call("close", () => this.#inner.close(...args)) as ReturnType<Store["close"]>;
  }
}
