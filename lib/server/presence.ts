/**
 * Who is told of whose presence: the sessions that asked for a contact
 * list's presence (`contacts`: `contact` notices when one changes) and
 * those that asked for the users online (`get_users`: a 205 when the list
 * changes), and whom an account shows itself to. Identity (logins, status,
 * logouts) tells it of changes; contacts and rooms ask it what may be seen.
 * In a cluster it tells the other nodes of the changes here, and hears of
 * theirs, so that watchers on every node are told.
 *
 * @module
 */

import { Outgoing } from "../protocol/codec.ts";
import {
  type ContactNotice,
  type ContactPresence,
  response,
  unixTime,
} from "../protocol/messages.ts";
import type { Cluster, OnlineName, PresenceChange } from "./cluster.ts";
import type { Directory } from "./directory.ts";
import type { Session } from "./sessions.ts";

/** An online name's presence: away when it has a status text. */
export function onlinePresence(name: string, status: string): ContactPresence {
  return status === ""
    ? { account_name: name, state: "online" }
    : { account_name: name, state: "away", status };
}

/** Whether `viewer` may see the presence of the session `subject` (itself, always). */
export function shows(subject: Session, viewer: string | null): boolean {
  if (subject.shownTo === null) return true;
  return viewer !== null && (viewer === subject.name || subject.shownTo.has(viewer));
}

/** Presence watchers and what they may see. */
export class Presence {
  readonly #directory: Directory<Session>;
  readonly #cluster: Cluster | null;
  /** Name → sessions that asked to be told of its presence (`contacts`). */
  readonly #watchers = new Map<string, Set<Session>>();
  /** Sessions that asked for the users online, to be told when the list changes. */
  readonly #usersWatchers = new Set<Session>();
  /** A 205 is queued for the users who watch the list (see usersChanged). */
  #usersChangeQueued = false;
  /** The change queued is (also) this node's: the other nodes are to be told. */
  #usersChangeToPublish = false;

  constructor(directory: Directory<Session>, cluster: Cluster | null = null) {
    this.#directory = directory;
    this.#cluster = cluster;
  }

  /** From now on `session` is told of the presence of `names` (and no longer of others). */
  watch(session: Session, names: Iterable<string>): void {
    this.unwatch(session);
    session.watching = new Set(names);
    for (const name of session.watching) {
      let set = this.#watchers.get(name);
      if (!set) this.#watchers.set(name, set = new Set());
      set.add(session);
    }
  }

  /** Stops telling a session of its contacts' presence. */
  unwatch(session: Session): void {
    if (session.watching === null) return;
    for (const name of session.watching) {
      const set = this.#watchers.get(name);
      set?.delete(session);
      if (set?.size === 0) this.#watchers.delete(name);
    }
    session.watching = null;
  }

  /** From now on `session` is told when the users online change (205). */
  watchUsers(session: Session): void {
    session.watchesUsers = true;
    this.#usersWatchers.add(session);
  }

  /** Forgets a session that has left: it watches nothing any more. */
  forget(session: Session): void {
    this.#usersWatchers.delete(session);
    this.unwatch(session);
  }

  /** The names online here that `viewer` may see (accounts may show themselves to contacts only). */
  visibleOnline(viewer: string | null): string[] {
    const names: string[] = [];
    for (const [name, s] of this.#directory) if (shows(s, viewer)) names.push(name);
    return names;
  }

  /** The names online here that `viewer` may see, with when each took its name (for other nodes). */
  visibleHere(viewer: string): OnlineName[] {
    const names: OnlineName[] = [];
    for (const [name, s] of this.#directory) {
      if (shows(s, viewer)) names.push({ name, since: s.since });
    }
    return names;
  }

  /**
   * The names online on every node that `viewer` may see, in the order they
   * came online (as {@linkcode visibleOnline} on a single node).
   */
  async visibleEverywhere(viewer: string): Promise<string[]> {
    if (this.#cluster === null) return this.visibleOnline(viewer);
    const elsewhere = await this.#cluster.online(viewer);
    const all = [...this.visibleHere(viewer), ...elsewhere];
    all.sort((a, b) => a.since - b.since);
    return all.map(({ name }) => name);
  }

  /**
   * Tells the sessions watching `name` its presence now: online or away as
   * `subject` is, or offline (`lastSeen`, unix ms) once `subject` no longer
   * holds the name. Those it hides from are told nothing, or (`everyone`,
   * when whom it shows itself to changed) that it is offline, without a time.
   */
  announce(name: string, subject: Session, lastSeen?: number, everyone = false): void {
    const watchers = this.#watchers.get(name);
    if (this.#cluster === null && (!watchers || watchers.size === 0)) return;
    const user: ContactPresence = this.#directory.get(name) === subject
      ? onlinePresence(name, subject.status)
      : lastSeen === undefined
      ? { account_name: name, state: "offline" }
      : { account_name: name, state: "offline", last_seen: unixTime(lastSeen) };
    const shownTo = subject.shownTo === null ? null : [...subject.shownTo];
    this.#cluster?.publishPresence({ name, user, shownTo, everyone });
    if (!watchers || watchers.size === 0) return;
    this.#tell(name, watchers, user, everyone, (watcher) => shows(subject, watcher.name), subject);
  }

  /** Tells this node's watchers of a presence change on another node. */
  changedElsewhere(change: PresenceChange): void {
    const { name, user, everyone } = change;
    const watchers = this.#watchers.get(name);
    if (!watchers || watchers.size === 0) return;
    const shownTo = change.shownTo === null ? null : new Set(change.shownTo);
    this.#tell(
      name,
      watchers,
      user,
      everyone,
      (watcher) => shownTo === null || (watcher.name !== null && shownTo.has(watcher.name)),
    );
  }

  /**
   * Sends `name`'s presence (`user`) to the `watchers` that `sees` picks (all but
   * `except`, the subject itself); the others are told nothing, or
   * (`everyone`) that it is offline, without a time.
   */
  #tell(
    name: string,
    watchers: Iterable<Session>,
    user: ContactPresence,
    everyone: boolean,
    sees: (watcher: Session) => boolean,
    except: Session | null = null,
  ): void {
    const time = unixTime();
    const shown = new Outgoing<ContactNotice>({ action: "contact", time, user });
    let hidden: Outgoing<ContactNotice> | null = null;
    for (const watcher of watchers) {
      if (watcher === except) continue;
      if (sees(watcher)) {
        watcher.peer.send(shown);
      } else if (everyone) {
        watcher.peer.send(
          hidden ??= new Outgoing({
            action: "contact",
            time,
            user: { account_name: name, state: "offline" },
          }),
        );
      }
    }
  }

  /**
   * Tells sessions that asked for the users online (`get_users`) that the
   * list changed (205). Changes in one turn of the event loop are told once.
   * `elsewhere`: the change was on another node, which told its own.
   */
  usersChanged(elsewhere = false): void {
    // Told the other nodes once per turn too, unless only they changed.
    if (!elsewhere) this.#usersChangeToPublish = true;
    if (this.#usersChangeQueued) return;
    this.#usersChangeQueued = true;
    queueMicrotask(() => {
      this.#usersChangeQueued = false;
      if (this.#usersChangeToPublish) this.#cluster?.publishUsersChanged();
      this.#usersChangeToPublish = false;
      if (this.#usersWatchers.size === 0) return;
      const notice = new Outgoing({ ...response(205), action: "users_changed" });
      for (const session of this.#usersWatchers) session.peer.send(notice);
    });
  }
}
