// Subscription fan-out. Subscribers whose operations are identical (same document, operation
// name, variables and viewer) form one group: the group subscribes once, and for each event
// executes the selection once, serializes the payload once, and writes the same bytes to every
// member. A change seen by a thousand map screens on the same viewport costs one execution.
//
// The viewer is part of the key because selections may hold per-viewer fields (viewerIsAttending,
// visibility of private events); anonymous subscribers all share the anonymous viewer.
//
// Groups that differ only in the root field's arguments (two viewports of the live map) hear
// the same change, and their results may well be identical. A subscription field can say so by
// declaring `extensions.fanoutKey(event)`: the part of a source event its result depends on
// (besides the selection, its variables and the viewer). Groups then share one execution per
// distinct key and event.
//
// Sharing a group never shares an authorization: every member who joins a running group runs
// the field's subscribe step (its checks) with its own arguments first (SubscriptionGroups.join).
//
// A subscription resumed with `after` replays history of its own before it goes live, so it is
// a group of one: someone joining it later would miss the replay.
import { createSourceEventStream, execute, getOperationAST, Kind, visit } from 'graphql';
import { SharedPromises } from '../lib/shared-promises.ts';
import type {
  ASTNode,
  ExecutionArgs,
  ExecutionResult,
  FormattedExecutionResult,
  SelectionNode,
  ValueNode,
} from 'graphql';

/**
 * One text message to a socket: whole, or in fragments (WebSocket continuation frames) that the
 * client reassembles into one message.
 */
export type OutgoingMessage = string | readonly Buffer[];

/** One subscriber: a graphql-ws operation on one socket. */
export interface Member {
  /** The graphql-ws operation id. */
  id: string;
  /** Writes one text message to the member's socket. */
  send(message: OutgoingMessage): void;
  /**
   * While the socket holds messages back for a client that has not read what it was sent:
   * resolved once they are written. A group of one waits for it before its next event (a
   * replay goes at its reader's pace); a larger group never waits for one member.
   */
  drained(): Promise<void> | null;
}

/**
 * Payloads from this many characters on go to members as one message in three fragments (the
 * member's own `{"id":…,"payload":`, the payload's bytes, `}`) sharing one encoding of the
 * payload. A frame string per member costs, at that size, a UTF-8 encoding and a fresh
 * allocation per socket and a copy in each queue: 300 sockets × 219 KB took ~650 ms of CPU that
 * way, ~15 ms as shared bytes (bench case 7). Below it, one string per member is cheaper.
 */
const SHARED_BYTES_FROM = 16 * 1024;
const CLOSING_BRACE = Buffer.from('}');

/** What makes two subscriptions identical. */
export interface GroupKey {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  /** The viewer's id and role, or null when anonymous. */
  viewer: { id: string; role: string } | null;
}

/**
 * What a subscription field may declare in its extensions to share results across groups: the
 * key of an event's result, or null for an event whose result is its group's own (a replayed
 * change, decided for its subscriber now rather than when others heard it).
 */
export type FanoutKey = (event: unknown) => string | null;

export interface FanoutOptions {
  /** Executes a selection for one event (the root value): from its plan when it has one. Default: graphql's execute. */
  execute?(args: ExecutionArgs): Promise<ExecutionResult> | ExecutionResult;
  /** Masks and formats a result's errors, with the context of the group's execution. */
  format(result: ExecutionResult, args: ExecutionArgs): FormattedExecutionResult;
  /** Observability: called once per execution of a selection. */
  onExecution?(operationName: string | undefined): void;
  /** Observability: called once per event a group sends, with the number of members it reached. */
  onDelivery?(operationName: string | undefined, members: number): void;
  /** Observability: the number of groups changed. */
  onGroupCount?(groups: number): void;
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` variables share a group. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

export const groupKey = (k: GroupKey) =>
  canonicalJson([
    k.query,
    k.operationName ?? null,
    k.variables ?? null,
    k.viewer ? [k.viewer.id, k.viewer.role] : null,
  ]);

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * A member's side of a group, handed to graphql-ws as the operation's stream. It yields
 * nothing (the group writes to the socket itself); it ends when the group ends, throws when
 * the group's source failed, and leaves the group when graphql-ws returns it (client sent
 * `complete`, or the socket closed).
 */
class Membership implements AsyncGenerator<never, undefined> {
  private settle?: { resolve: (r: IteratorReturnResult<undefined>) => void; reject: (e: unknown) => void };
  private outcome?: { error?: unknown };
  readonly prefix: string;
  private prefixBytes?: Buffer;

  constructor(
    readonly member: Member,
    private readonly leave: (m: Membership) => void,
  ) {
    // Everything of the `next` frame but the payload, built once per member.
    this.prefix = `{"id":${JSON.stringify(member.id)},"type":"next","payload":`;
  }

  /** Writes one payload to the member, as a `next` message. */
  deliver(payload: string, bytes: Buffer | null): void {
    if (!bytes) return this.member.send(`${this.prefix}${payload}}`);
    this.prefixBytes ??= Buffer.from(this.prefix);
    this.member.send([this.prefixBytes, bytes, CLOSING_BRACE]);
  }

  /** Ends the stream: normally, or with the source's error. */
  finish(outcome: { error?: unknown }): void {
    if (this.outcome) return;
    this.outcome = outcome;
    if (!this.settle) return;
    if ('error' in outcome) this.settle.reject(outcome.error);
    else this.settle.resolve(DONE);
  }

  next(): Promise<IteratorResult<never, undefined>> {
    // The source's error, passed on as it came.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    if (this.outcome) return 'error' in this.outcome ? Promise.reject(this.outcome.error) : Promise.resolve(DONE);
    return new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  return(): Promise<IteratorReturnResult<undefined>> {
    this.leave(this);
    this.finish({});
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorReturnResult<undefined>> {
    this.leave(this);
    this.finish({});
    // What the caller threw in, passed back as the generator protocol says.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    return Promise.reject(error);
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

/** How a group's results may be shared: its selection's key, and the field's fanout key. */
interface Sharing {
  selectionKey: string;
  fanoutKey: FanoutKey;
  results: SharedPromises<string>;
}

class Group {
  readonly members = new Set<Membership>();
  ended = false;
  /** The name in the document (not the one the client sent beside it); undefined: anonymous. */
  private readonly operationName: string | undefined;
  private readonly source: AsyncIterator<unknown>;

  constructor(
    events: AsyncIterable<unknown>,
    private readonly args: ExecutionArgs,
    private readonly sharing: Sharing | null,
    private readonly opts: FanoutOptions,
    private readonly onEnd: () => void,
  ) {
    this.operationName = getOperationAST(args.document, args.operationName)?.name?.value;
    this.source = events[Symbol.asyncIterator]();
    void this.pump();
  }

  join(member: Member): Membership {
    const membership = new Membership(member, (m) => this.leave(m));
    this.members.add(membership);
    return membership;
  }

  private leave(membership: Membership): void {
    if (!this.members.delete(membership) || this.members.size > 0) return;
    // Nobody is listening: stop the source (unsubscribes from pub/sub); pump() then ends.
    this.end();
    void this.source.return?.();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
  }

  /** Executes the selection for one event (as graphql's subscribe would) and serializes it. */
  private async run(event: unknown): Promise<string> {
    const result = await (this.opts.execute ?? execute)({ ...this.args, rootValue: event });
    this.opts.onExecution?.(this.operationName);
    return JSON.stringify(this.opts.format(result, this.args));
  }

  private payloadFor(event: unknown): Promise<string> {
    if (!this.sharing) return this.run(event);
    const { selectionKey, fanoutKey, results } = this.sharing;
    const key = fanoutKey(event);
    return key === null ? this.run(event) : results.get(`${selectionKey}\u0000${key}`, () => this.run(event));
  }

  private async pump(): Promise<void> {
    let outcome: { error?: unknown } = {};
    try {
      for (;;) {
        const next = await this.source.next();
        if (next.done) break;
        if (this.members.size === 0) continue;
        const payload = await this.payloadFor(next.value);
        const bytes = payload.length >= SHARED_BYTES_FROM ? Buffer.from(payload) : null;
        for (const m of this.members) m.deliver(payload, bytes);
        if (this.members.size === 1) await this.members.values().next().value!.member.drained();
        this.opts.onDelivery?.(this.operationName, this.members.size);
      }
    } catch (error) {
      outcome = { error };
    }
    this.end();
    for (const m of this.members) m.finish(outcome);
    this.members.clear();
  }
}

/**
 * The root field's fanout key, and the variables the selection below it uses: what, besides the
 * viewer and the event's key, its result can depend on. Null when results are not shareable.
 */
function sharingOf(args: ExecutionArgs, key: GroupKey): Omit<Sharing, 'results'> | null {
  const operation = getOperationAST(args.document, args.operationName);
  const root = operation?.selectionSet.selections;
  if (!operation || root?.length !== 1 || root[0]!.kind !== Kind.FIELD) return null;
  const field = root[0]!;
  const fanoutKey = args.schema.getSubscriptionType()?.getFields()[field.name.value]?.extensions?.fanoutKey as
    FanoutKey | undefined;
  if (!fanoutKey || field.directives?.length) return null;
  // Variables used below the root field (its own arguments only route events to the group).
  const used = new Set<string>();
  const collect = (node: ASTNode) => visit(node, { Variable: (v) => void used.add(v.name.value) });
  if (field.selectionSet) collect(field.selectionSet);
  for (const definition of args.document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) collect(definition);
  const variables = Object.fromEntries([...used].map((name) => [name, key.variables?.[name]]));
  return { selectionKey: groupKey({ ...key, variables }), fanoutKey };
}

/**
 * Whether the operation's root field resumes with an `after` argument that is set: written
 * out, or a variable that is given or has a default. The root field may sit in fragments.
 */
function resumes(args: ExecutionArgs): boolean {
  const operation = getOperationAST(args.document, args.operationName);
  if (!operation) return false;
  const fragments = new Map(
    args.document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [])),
  );
  const variables = (args.variableValues ?? {}) as Record<string, unknown>;
  const isSet = (value: ValueNode): boolean => {
    if (value.kind === Kind.NULL) return false;
    if (value.kind !== Kind.VARIABLE) return true;
    const name = value.name.value;
    if (name in variables) return variables[name] !== null && variables[name] !== undefined;
    const definition = operation.variableDefinitions?.find((v) => v.variable.name.value === name);
    return !!definition?.defaultValue && definition.defaultValue.kind !== Kind.NULL;
  };
  const seen = new Set<string>();
  const inSelections = (selections: readonly SelectionNode[]): boolean =>
    selections.some((selection) => {
      if (selection.kind === Kind.FIELD) {
        const after = selection.arguments?.find((a) => a.name.value === 'after');
        return !!after && isSet(after.value);
      }
      if (selection.kind === Kind.INLINE_FRAGMENT) return inSelections(selection.selectionSet.selections);
      const name = selection.name.value;
      if (seen.has(name)) return false;
      seen.add(name);
      const fragment = fragments.get(name);
      return !!fragment && inSelections(fragment.selectionSet.selections);
    });
  return inSelections(operation.selectionSet.selections);
}

/** A group under its key: being started, or running. */
interface Entry {
  pending: Promise<Group | ExecutionResult>;
}

/** The live groups of one server. */
export class SubscriptionGroups {
  private readonly groups = new Map<string, Entry>();
  /** Serialized results groups share, keyed by selection, viewer and the event's fanout key. */
  private readonly results = new SharedPromises<string>(5_000);
  /** Numbers the groups of one (resumed subscriptions). */
  private solo = 0;

  constructor(private readonly opts: FanoutOptions) {}

  get size(): number {
    return this.groups.size;
  }

  /**
   * Subscribes `member`: joins the group for `key`, or starts one by subscribing with `args`
   * (whose context then serves every member of the group). An ExecutionResult means the
   * subscription was refused (bad arguments, authorization) and is answered as graphql-ws would.
   */
  async join(
    key: GroupKey,
    args: ExecutionArgs,
    member: Member,
  ): Promise<AsyncGenerator<never, undefined> | ExecutionResult> {
    const k = resumes(args) ? `${groupKey(key)}\u0000${++this.solo}` : groupKey(key);
    for (;;) {
      const existing = this.groups.get(k);
      const entry = existing ?? this.start(k, key, args);
      const group = await entry.pending;
      if (!(group instanceof Group)) return group;
      // Whoever joins a group someone else started is authorized afresh, with their own
      // arguments and context: what allowed the group's first member (membership of a chat,
      // say) may have changed since, and the group's own source only hears what it was
      // subscribed to. A refusal is answered as graphql-ws would; the member never joins.
      if (existing && !group.ended) {
        const refused = await this.authorize(args);
        if (refused) return refused;
      }
      if (!group.ended) return group.join(member);
      // Ended while this member waited: forget it and start afresh.
      this.forget(k, entry);
    }
  }

  /**
   * Runs the root field's subscribe step for a joining member (its checks: signed in, member
   * of the chat, bounds), then ends the stream it opened: the group already listens. Null when
   * allowed, else the refusal.
   */
  private async authorize(args: ExecutionArgs): Promise<ExecutionResult | null> {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source;
    await source[Symbol.asyncIterator]().return?.();
    return null;
  }

  private start(k: string, key: GroupKey, args: ExecutionArgs): Entry {
    const entry = {} as Entry;
    entry.pending = this.subscribe(k, entry, key, args);
    this.groups.set(k, entry);
    this.opts.onGroupCount?.(this.groups.size);
    return entry;
  }

  private async subscribe(
    k: string,
    entry: Entry,
    key: GroupKey,
    args: ExecutionArgs,
  ): Promise<Group | ExecutionResult> {
    try {
      const source = await createSourceEventStream(args);
      if (!(Symbol.asyncIterator in source)) {
        this.forget(k, entry);
        return source;
      }
      const sharing = sharingOf(args, key);
      // A copy: the transport may let go of what the first member's own arguments hold once it has joined.
      return new Group(source, { ...args }, sharing && { ...sharing, results: this.results }, this.opts, () =>
        this.forget(k, entry),
      );
    } catch (error) {
      this.forget(k, entry);
      throw error;
    }
  }

  /** Removes the entry, unless a newer one has taken its key. */
  private forget(k: string, entry: Entry): void {
    if (this.groups.get(k) !== entry) return;
    this.groups.delete(k);
    this.opts.onGroupCount?.(this.groups.size);
  }
}
