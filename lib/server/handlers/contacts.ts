/**
 * Contacts and the users online: `get_contacts`, `add_contact`,
 * `del_contact`, `get_users`, and jim's `contacts` (the list with each
 * one's presence, kept up to date). An account's list is in the store; a
 * guest's lives with its session.
 *
 * @module
 */

import {
  type ContactPresence,
  type Response,
  response,
  unixTime,
} from "../../protocol/messages.ts";
import { onlinePresence, shows } from "../presence.ts";
import type { Session } from "../sessions.ts";
import type { HandlerContext, Handlers } from "./context.ts";

/** Names `get_users` lists at most. */
const USERS_MAX = 200;

/** What the contacts handlers are given. */
export type ContactsContext = Pick<
  HandlerContext,
  "store" | "settings" | "directory" | "sessions" | "presence" | "cluster"
>;

/** The handlers of contacts and users. */
export function contactHandlers(
  ctx: ContactsContext,
): Pick<Handlers, "get_contacts" | "add_contact" | "del_contact" | "get_users" | "contacts"> {
  const { store, settings, directory, sessions, presence, cluster } = ctx;

  /** The names on a session's contact list: an account's from the store, a guest's from memory. */
  function contactsOf(session: Session, name: string): Promise<string[]> | string[] {
    return session.account ? store.listContacts(name) : [...session.contacts];
  }

  /** One name's presence as `viewer` may see it. */
  async function presenceOf(name: string, viewer: string): Promise<ContactPresence> {
    const online = directory.get(name);
    if (online) {
      if (shows(online, viewer)) return onlinePresence(name, online.status);
      return { account_name: name, state: "offline" };
    }
    // Held on another node, that node says whether the viewer sees it; one
    // it hides from is offline below, as its account says.
    const elsewhere = await cluster?.whois(name, viewer);
    if (elsewhere) return onlinePresence(name, elsewhere.status);
    const account = await store.getAccount(name);
    if (!account || account.lastSeen === 0) return { account_name: name, state: "offline" };
    if (account.contactsOnly && !(await store.hasContact(name, viewer))) {
      return { account_name: name, state: "offline" };
    }
    return { account_name: name, state: "offline", last_seen: unixTime(account.lastSeen) };
  }

  async function getContacts(session: Session): Promise<Response> {
    const me = session.name;
    if (me === null) {
      return response(401, "Cannot list contacts: send presence or authenticate first");
    }
    const users = await contactsOf(session, me);
    // Their presence has been asked about: they may be probed (see serve.ts).
    for (const name of users) {
      const s = directory.get(name);
      if (s) s.watched = true;
      else cluster?.watched(name);
    }
    const count = users.length === 1 ? "1 contact" : `${users.length} contacts`;
    return response(202, count, { users });
  }

  async function addContact(session: Session, contact: string): Promise<Response> {
    const me = session.name;
    if (me === null) {
      return response(401, "Cannot add a contact: send presence or authenticate first");
    }
    // A guest online on another node may be named too.
    const known = directory.has(contact) || !!(await store.getAccount(contact)) ||
      (await cluster?.holderOf(contact)) === contact;
    if (!known) {
      return response(404, `Cannot add ${contact} to contacts: no such user`);
    }
    const list = await contactsOf(session, me);
    if (list.includes(contact)) return response(200, `${contact} is in your contacts`);
    if (list.length >= settings.maxContacts) {
      return response(
        403,
        `Cannot add ${contact} to contacts: the list holds ${settings.maxContacts} names already`,
      );
    }
    if (session.account) {
      await store.addContact(me, contact);
      // One it shows itself to only if listed: now it is.
      if (session.shownTo && session.name === me) {
        session.shownTo.add(contact);
        presence.announce(me, session, undefined, true);
      }
    } else if (sessions.has(session)) session.contacts.add(contact);
    return response(200, `${contact} added to contacts`);
  }

  async function delContact(session: Session, contact: string): Promise<Response> {
    const me = session.name;
    if (me === null) {
      return response(401, "Cannot remove a contact: send presence or authenticate first");
    }
    const removed = session.account
      ? await store.removeContact(me, contact)
      : session.contacts.delete(contact);
    if (!removed) return response(404, `Cannot remove ${contact} from contacts: not a contact`);
    if (session.account && session.shownTo?.delete(contact) && session.name === me) {
      presence.announce(me, session, undefined, true);
    }
    return response(200, `${contact} removed from contacts`);
  }

  /**
   * `contacts`: an account's contact list with each one's presence, after an
   * optional change; from then on the connection is told when a contact's
   * presence changes (`contact` objects). Guests have no lasting list.
   */
  async function contacts(
    session: Session,
    request: { add?: string; remove?: string; show_to?: "everyone" | "contacts" },
  ): Promise<Response> {
    const me = session.name;
    if (me === null || !session.account) {
      return response(401, "Cannot use contacts: log in to an account first (guests have none)");
    }
    const { add, remove, show_to } = request;
    let alert = "contacts";
    if (add !== undefined) {
      if (add === me) return response(400, "Cannot parse request: add must not be yourself");
      if (!(await store.getAccount(add))) {
        return response(404, `Cannot add ${add} to contacts: no such account`);
      }
      const list = await store.listContacts(me);
      if (!list.includes(add) && list.length >= settings.maxContacts) {
        return response(
          403,
          `Cannot add ${add} to contacts: the list holds ${settings.maxContacts} names already`,
        );
      }
      await store.addContact(me, add);
      alert = `${add} added to contacts`;
    }
    if (remove !== undefined) {
      if (!(await store.removeContact(me, remove))) {
        return response(404, `Cannot remove ${remove} from contacts: not a contact`);
      }
      alert = `${remove} removed from contacts`;
    }
    if (show_to !== undefined) {
      if (!(await store.setContactsOnly(me, show_to === "contacts"))) {
        return response(404, `Cannot show your presence: account ${me} no longer exists`);
      }
      alert = show_to === "contacts"
        ? "your presence is shown to your contacts only"
        : "your presence is shown to everyone";
    }
    const names = await store.listContacts(me);
    if (!sessions.has(session) || session.name !== me) return response(200, alert);
    if (add !== undefined || remove !== undefined || show_to !== undefined) {
      // Who may see this account changed with its list or its choice.
      const contactsOnly = show_to === undefined
        ? session.shownTo !== null
        : show_to === "contacts";
      session.shownTo = contactsOnly ? new Set(names) : null;
      presence.announce(me, session, undefined, true);
    }
    presence.watch(session, names);
    const list = await Promise.all(names.map((name) => presenceOf(name, me)));
    return response(200, alert, {
      contacts: list,
      show_to: session.shownTo ? "contacts" : "everyone",
    });
  }

  async function getUsers(session: Session): Promise<Response> {
    if (session.name === null) {
      return response(401, "Cannot list users: send presence or authenticate first");
    }
    presence.watchUsers(session);
    const users = await presence.visibleEverywhere(session.name);
    return response(202, `${users.length} online`, { users: users.slice(0, USERS_MAX) });
  }

  return {
    get_contacts: (session) => getContacts(session),
    add_contact: (session, request) => addContact(session, request.contact),
    del_contact: (session, request) => delContact(session, request.contact),
    get_users: (session) => getUsers(session),
    contacts: (session, request) => contacts(session, request),
  };
}
