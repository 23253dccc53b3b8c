/**
 * What the handler modules share: the shape of the handler table, and the
 * context a handler module is given (each takes only the parts it needs,
 * never the hub).
 *
 * @module
 */

import type { Request, Response } from "../../protocol/messages.ts";
import type { Store } from "../../store/store.ts";
import type { Cluster } from "../cluster.ts";
import type { Directory } from "../directory.ts";
import type { ServerSettings } from "../options.ts";
import type { History } from "../history.ts";
import type { Presence } from "../presence.ts";
import type { RoomState } from "../room_state.ts";
import type { Router } from "../router.ts";
import type { Session, Sessions } from "../sessions.ts";

/** The settings the hub and its handlers read. */
export type HubSettings = Pick<
  ServerSettings,
  | "requireAuth"
  | "offlineStore"
  | "offlineLimit"
  | "offlineShare"
  | "maxRoomsPerUser"
  | "maxQueueObjects"
  | "maxRooms"
  | "hashIterations"
  | "hashConcurrency"
  | "hashQueue"
  | "registerPending"
  | "registerLimit"
  | "authFailures"
  | "authAddressFailures"
  | "authWindowMs"
  | "authLockoutMs"
  | "tokenLifetimeMs"
  | "tokensPerAccount"
  | "maxContacts"
  | "roomHistory"
  | "directHistory"
  | "historyAgeMs"
>;

/** The request (or requests: `add_contact` and `del_contact` share one) of one action. */
export type RequestOf<A extends Request["action"]> = Request extends infer R
  ? R extends { action: infer X } ? A extends X ? R : never : never
  : never;

/** What the hub does with a request of one action. */
export type Handler<A extends Request["action"]> = (
  session: Session,
  request: RequestOf<A>,
) => Response | Promise<Response>;

/** A handler for every action: a missing one is a type error. */
export type Handlers = { [A in Request["action"]]: Handler<A> };

/** Everything a handler module may be given; each takes a `Pick` of it. */
export interface HandlerContext {
  store: Store;
  settings: HubSettings;
  /** Who holds which name (here, or in a cluster anywhere). */
  directory: Directory<Session>;
  /** How direct and room messages reach their recipients. */
  router: Router<Session>;
  /** The sessions of this node. */
  sessions: Sessions;
  /** Who is told of whose presence. */
  presence: Presence;
  /** Room members, kept rooms and topics. */
  rooms: RoomState;
  /** Kept messages (room and direct history). */
  history: History;
  /** The other nodes (`--cluster`), or null for a single server. */
  cluster: Cluster | null;
  /** Where to write log lines. */
  log: (line: string) => void;
}
