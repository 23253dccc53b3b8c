/**
 * Rooms: `join`, `leave`, `who` (of the server, a room or a user), `topic`,
 * and `history` (of a room, or of the sender's direct conversation with
 * someone).
 *
 * @module
 */

import { Outgoing } from "../../protocol/codec.ts";
import { type Response, response, unixTime } from "../../protocol/messages.ts";
import { directConversation } from "../../store/store.ts";
import type { Cluster } from "../cluster.ts";
import type { Directory } from "../directory.ts";
import { shows } from "../presence.ts";
import type { Session } from "../sessions.ts";
import type { HandlerContext, Handlers } from "./context.ts";

/** Names `who` lists at most. */
const WHO_MAX = 200;
/** Messages a `history` request gets when it names no limit. */
const HISTORY_PAGE = 50;

/**
 * How long a node holding a lock across the cluster (room creation, a
 * topic) waits for NATS before going on (ms): one cut off from NATS holds
 * the others up no longer.
 */
const LOCKED_WAIT_MS = 2000;

/** {@linkcode Cluster.caughtUp}, or on after {@linkcode LOCKED_WAIT_MS}. */
async function caughtUpWithin(cluster: Pick<Cluster, "caughtUp">): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => timer = setTimeout(resolve, LOCKED_WAIT_MS));
  try {
    const up = cluster.caughtUp();
    up.catch(() => {}); // a failure after the wait is nobody's to answer
    await Promise.race([up, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A new topic, for {@linkcode tellTopic}. */
export interface TopicChange {
  /** The room's members. */
  members: Iterable<string>;
  room: string;
  /** "" when cleared. */
  topic: string;
  /** Who set it. */
  from: string;
  /** The session that set it here (it has its answer), or null when set on another node. */
  setter: Session | null;
}

/** Tells the members of a room online here that asked for history (but the setter) of a new topic. */
export function tellTopic(directory: Pick<Directory<Session>, "get">, change: TopicChange): void {
  const { members, room, topic, from, setter } = change;
  const notice = new Outgoing({ action: "topic", time: unixTime(), room, topic, from });
  for (const member of members) {
    const peer = directory.get(member);
    if (peer && peer !== setter && peer.ids) peer.peer.send(notice);
  }
}

/** What the room handlers are given. */
export type RoomsContext = Pick<
  HandlerContext,
  | "store"
  | "settings"
  | "directory"
  | "router"
  | "sessions"
  | "presence"
  | "rooms"
  | "history"
  | "cluster"
>;

/** The handlers of rooms, topics and history. */
export function roomHandlers(
  ctx: RoomsContext,
): Pick<Handlers, "join" | "leave" | "who" | "topic" | "history"> {
  const { store, settings, directory, router, sessions, presence, rooms, history, cluster } = ctx;

  async function join(
    session: Session,
    room: string,
    historyLimit?: number,
    after?: number,
  ): Promise<Response> {
    const me = session.name;
    if (me === null) {
      return response(401, `Cannot join ${room}: send presence or authenticate first`);
    }
    // From now on its room messages carry ids, so that the replay and what
    // arrives meanwhile can be told apart.
    if (historyLimit !== undefined) session.ids = true;
    // A room another node has just dropped (or a member that has just left
    // it) may not be heard of here yet, though its leave was answered once
    // told: heard first, so that the answer (201 or 200) and the caps are right.
    if (cluster && !session.rooms.has(room)) {
      await cluster.caughtUp();
      // A guests' room with no member here: the nodes of its members may
      // have died, not noticed here yet. Then it is gone, as everywhere soon.
      const members = rooms.get(room);
      if (members && !rooms.isKept(room) && ![...members].some((m) => directory.has(m))) {
        await cluster.checkNodesIn(room);
        await rooms.dropped();
      }
    }
    if (cluster && !rooms.has(room) && store.underLock) {
      // Rooms are created by one node at a time, each hearing first of those
      // the others made, so that two cannot pass --max-rooms together.
      return await store.underLock("rooms", async () => {
        await caughtUpWithin(cluster);
        const answer = await joinKnown(session, me, room, historyLimit, after);
        // The next node to create one hears of this one first.
        await caughtUpWithin(cluster);
        return answer;
      });
    }
    return await joinKnown(session, me, room, historyLimit, after);
  }

  /** `join` once the node has heard what the others told it before. */
  async function joinKnown(
    session: Session,
    me: string,
    room: string,
    historyLimit?: number,
    after?: number,
  ): Promise<Response> {
    const createdHere = !rooms.has(room);
    const like = createdHere ? rooms.lookalike(room) : undefined;
    if (like !== undefined) return response(409, `Cannot create ${room}: it looks like ${like}`);
    if (!session.rooms.has(room)) {
      const { maxRoomsPerUser, maxRooms } = settings;
      if (session.rooms.size >= maxRoomsPerUser) {
        return response(
          403,
          `Cannot join ${room}: you are in ${maxRoomsPerUser} rooms, the most one user may be in`,
        );
      }
      if (createdHere && rooms.size >= maxRooms) {
        return response(
          403,
          `Cannot create ${room}: the server has ${maxRooms} rooms, the most it allows`,
        );
      }
    }
    // In a cluster, 201 only for the first join anywhere (another node may have created it).
    let created = createdHere;
    if (createdHere && cluster) {
      const made = await cluster.createRoom(room);
      // A room left behind by nodes that all died: its history is not this room's.
      if (made === "replaced" && settings.roomHistory > 0) await store.dropHistory(room);
      created = made !== false;
    }
    // A guest that has left would stay a member for good.
    if (!sessions.has(session)) return response(200);
    // Counted at once, so that joins made while the store writes cannot pass the caps.
    const members = rooms.members(room, true);
    if (!members.has(me)) rooms.tell(room, me, true, session.account);
    members.add(me);
    session.rooms.add(room);
    // In a cluster, once this is answered, what others send to the room reaches this node.
    const watching = router.watchRoom(room, true);
    if (watching) await watching;
    if (session.account) {
      try {
        await store.addRoomMember(room, me);
        // Kept from now on; a topic a guest set is kept with it.
        if (!rooms.isKept(room)) {
          rooms.keep(room);
          const keepTopic = async () => {
            const topic = rooms.topic(room);
            if (topic !== undefined) await store.setTopic(room, topic);
          };
          // In a cluster, the last topic any node applied (see `topic`).
          if (cluster && store.underLock) {
            await store.underLock(`topic ${room}`, async () => {
              await caughtUpWithin(cluster);
              await keepTopic();
            });
          } else await keepTopic();
        }
      } catch (e) {
        rooms.removeMember(room, me);
        session.rooms.delete(room);
        throw e;
      }
    }
    const code = created ? 201 : 200;
    const text = created ? `room ${room} created` : `joined ${room}`;
    if (historyLimit === undefined) return response(code, text);
    const extra: Record<string, unknown> = { topic: rooms.topic(room) ?? "" };
    if (historyLimit > 0 && settings.roomHistory > 0) {
      Object.assign(extra, await history.page(room, { limit: historyLimit, after }));
    } else {
      Object.assign(extra, { messages: [], more: false });
    }
    return response(code, text, extra);
  }

  /** `history`: a page of a room the sender is in, or of its direct conversation with someone. */
  async function readHistory(
    session: Session,
    target: string,
    query: { before?: number; after?: number; limit?: number },
  ): Promise<Response> {
    const me = session.name;
    if (me === null) {
      return response(401, "Cannot read history: send presence or authenticate first");
    }
    const limit = query.limit ?? HISTORY_PAGE;
    let conversation: string;
    if (target.startsWith("#")) {
      const members = rooms.get(target);
      if (!members) return response(404, `Cannot read the history of ${target}: no such room`);
      if (!members.has(me)) {
        return response(403, `Cannot read the history of ${target}: you are not a member`);
      }
      conversation = target;
    } else {
      // A guest's name is not reserved: what was said to it may have been said to another.
      if (!session.account) {
        return response(401, "Cannot read direct history: log in to an account first");
      }
      conversation = directConversation(me, target);
    }
    session.ids = true;
    const page = await history.page(conversation, { ...query, limit });
    return response(200, `${page.messages.length} messages`, page);
  }

  /** `topic`: reads a room's topic, or (a member) sets it and tells the members that asked. */
  async function topic(session: Session, room: string, text?: string): Promise<Response> {
    const me = session.name;
    if (me === null) {
      return response(401, `Cannot use the topic of ${room}: send presence or authenticate first`);
    }
    // In a cluster, a read hears first what the other nodes told before (a
    // room created or a topic set and answered there), as a read after a set
    // does on one server.
    if (cluster && text === undefined) await caughtUpWithin(cluster);
    const members = rooms.get(room);
    if (!members) return response(404, `Cannot use the topic of ${room}: no such room`);
    if (text === undefined) {
      return response(200, `topic of ${room}`, { room, topic: rooms.topic(room) ?? "" });
    }
    if (!members.has(me)) {
      return response(403, `Cannot set the topic of ${room}: you are not a member`);
    }
    const set = () => {
      rooms.setTopic(room, text);
      tellTopic(directory, { members, room, topic: text, from: me, setter: session });
      cluster?.publishTopic(room, text, me);
    };
    // A guests' room keeps its topic in memory only (on every node), as it keeps its members.
    if (!rooms.isKept(room)) {
      set();
      // Answered once NATS has it: a read anywhere after the answer sees it.
      if (cluster) await caughtUpWithin(cluster);
    } else if (cluster && store.underLock) {
      // Every node applies topics in the order NATS delivers them: written
      // and published by one node at a time, so that the store keeps the last.
      await store.underLock(`topic ${room}`, async () => {
        await store.setTopic(room, text);
        set();
        await caughtUpWithin(cluster);
      });
    } else {
      await store.setTopic(room, text);
      set();
    }
    return response(200, `topic of ${room} set`, { room, topic: text });
  }

  async function leave(session: Session, room: string): Promise<Response> {
    const me = session.name;
    if (me === null) {
      return response(401, `Cannot leave ${room}: send presence or authenticate first`);
    }
    if (!rooms.get(room)?.has(me)) {
      return response(404, `Cannot leave ${room}: you are not a member`);
    }
    if (session.account) await store.removeRoomMember(room, me);
    rooms.removeMember(room, me);
    session.rooms.delete(room);
    // Answered once the other nodes can hear it and a room it emptied is
    // gone: the room counts nowhere after, and a join anywhere creates it anew.
    if (cluster) {
      await rooms.dropped();
      await cluster.caughtUp();
    }
    return response(200, `left ${room}`);
  }

  /** Whether an account online on another node shows its presence to `viewer`. */
  async function shownInStore(name: string, viewer: string): Promise<boolean> {
    const account = await store.getAccount(name);
    if (!account?.contactsOnly) return true;
    return (await store.listContacts(name)).includes(viewer);
  }

  async function who(session: Session, target?: string): Promise<Response> {
    if (session.name === null) {
      return response(401, "Cannot list users: send presence or authenticate first");
    }
    if (target === undefined) {
      const users = await presence.visibleEverywhere(session.name);
      return response(200, `${users.length} online`, { users: users.slice(0, WHO_MAX) });
    }
    if (target.startsWith("#")) {
      const members = rooms.get(target);
      if (!members) return response(404, `Cannot list ${target}: no such room`);
      // Membership is no secret to members, but whether one is online is: a
      // member that shows itself to its contacts only is listed to them only,
      // as in `who` and `get_users`.
      const viewer = session.name;
      const here = (m: string) => {
        const s = directory.get(m);
        return s !== undefined && shows(s, viewer);
      };
      let users = [...members].filter(here);
      if (cluster) {
        // Members online on other nodes hold their names there; whom they
        // show themselves to is read from their accounts.
        const elsewhere = [...members].filter((m) => !directory.has(m));
        const held = await cluster.held(elsewhere);
        const shown = new Set<string>();
        for (const name of held) {
          if (await shownInStore(name, viewer)) shown.add(name);
        }
        users = [...members].filter((m) => here(m) || shown.has(m));
      }
      users = users.slice(0, WHO_MAX);
      return response(200, `${users.length} online in ${target}`, { users });
    }
    const online = directory.get(target);
    // Held on another node, that node says whether the asker sees it.
    const seen = online
      ? (shows(online, session.name) ? { status: online.status } : null)
      : await cluster?.whois(target, session.name) ?? null;
    if (seen) {
      const status = seen.status ? `: ${seen.status}` : "";
      return response(200, `${target} is online${status}`, { users: [target] });
    }
    if (await store.getAccount(target)) {
      return response(200, `${target} is offline`, { users: [] });
    }
    return response(404, `Cannot find ${target}: no such user`);
  }

  return {
    join: (session, request) => join(session, request.room, request.history, request.after),
    leave: (session, request) => leave(session, request.room),
    who: (session, request) => who(session, request.target),
    topic: (session, request) => topic(session, request.room, request.topic),
    history: (session, request) => readHistory(session, request.target, request),
  };
}
