// Subscription fan-out. Subscribers whose operations are identical (same document, operation
// name, variables and viewer) form one group: the group subscribes once, executes the selection
// once per event, serializes the payload once, and writes the same bytes to every member.
// A change seen by a thousand map screens on the same viewport costs one execution, not a
// thousand.
//
// The viewer is part of the key because selections may hold per-viewer fields (viewerIsAttending,
// visibility of private events); anonymous subscribers all share the anonymous viewer.
import { subscribe } from 'graphql';
import type { ExecutionArgs, ExecutionResult, FormattedExecutionResult } from 'graphql';

/** One subscriber: a graphql-ws operation on one socket. */
export interface Member {
  /** The graphql-ws operation id. */
  id: string;
  /** Writes one text frame to the member's socket. */
  send(frame: string): void;
}

/** What makes two subscriptions identical. */
export interface GroupKey {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  /** The viewer's id and role, or null when anonymous. */
  viewer: { id: string; role: string } | null;
}

export interface FanoutOptions {
  /** Masks and formats a result's errors, with the context of the group's execution. */
  format(result: ExecutionResult, args: ExecutionArgs): FormattedExecutionResult;
  /** Observability: called once per execution, with the number of members it reached. */
  onExecution?(operationName: string, members: number): void;
  /** Observability: the number of groups changed. */
  onGroupCount?(groups: number): void;
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` variables share a group. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

export const groupKey = (k: GroupKey) =>
  canonicalJson([k.query, k.operationName ?? null, k.variables ?? null, k.viewer ? [k.viewer.id, k.viewer.role] : null]);

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

  constructor(
    readonly member: Member,
    private readonly leave: (m: Membership) => void,
  ) {
    // Everything of the `next` frame but the payload, built once per member.
    this.prefix = `{"id":${JSON.stringify(member.id)},"type":"next","payload":`;
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
    return Promise.reject(error);
  }

  [Symbol.asyncIterator]() {
    return this;
  }

}

class Group {
  readonly members = new Set<Membership>();
  ended = false;

  constructor(
    private readonly source: AsyncGenerator<ExecutionResult>,
    private readonly args: ExecutionArgs,
    private readonly opts: FanoutOptions,
    private readonly onEnd: () => void,
  ) {
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
    void this.source.return(undefined);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
  }

  private async pump(): Promise<void> {
    let outcome: { error?: unknown } = {};
    try {
      for await (const result of this.source) {
        // Executed once by graphql's subscribe mapping, serialized once here.
        this.opts.onExecution?.(this.args.operationName ?? 'anonymous', this.members.size);
        if (this.members.size === 0) continue;
        const payload = JSON.stringify(this.opts.format(result, this.args));
        for (const m of this.members) m.member.send(`${m.prefix}${payload}}`);
      }
    } catch (error) {
      outcome = { error };
    }
    this.end();
    for (const m of this.members) m.finish(outcome);
    this.members.clear();
  }
}

/** A group under its key: being started, or running. */
interface Entry {
  pending: Promise<Group | ExecutionResult>;
}

/** The live groups of one server. */
export class SubscriptionGroups {
  private readonly groups = new Map<string, Entry>();

  constructor(private readonly opts: FanoutOptions) {}

  get size(): number {
    return this.groups.size;
  }

  /**
   * Subscribes `member`: joins the group for `key`, or starts one by subscribing with `args`
   * (whose context then serves every member of the group). An ExecutionResult means the
   * subscription was refused (bad arguments, authorization) and is answered as graphql-ws would.
   */
  async join(key: GroupKey, args: ExecutionArgs, member: Member): Promise<AsyncGenerator<never, undefined> | ExecutionResult> {
    const k = groupKey(key);
    for (;;) {
      const entry = this.groups.get(k) ?? this.start(k, args);
      const group = await entry.pending;
      if (!(group instanceof Group)) return group;
      if (!group.ended) return group.join(member);
      // Ended while this member waited: forget it and start afresh.
      this.forget(k, entry);
    }
  }

  private start(k: string, args: ExecutionArgs): Entry {
    const entry = {} as Entry;
    entry.pending = this.subscribe(k, entry, args);
    this.groups.set(k, entry);
    this.opts.onGroupCount?.(this.groups.size);
    return entry;
  }

  private async subscribe(k: string, entry: Entry, args: ExecutionArgs): Promise<Group | ExecutionResult> {
    try {
      const result = await subscribe(args);
      if (!(Symbol.asyncIterator in result)) {
        this.forget(k, entry);
        return result;
      }
      return new Group(result, args, this.opts, () => this.forget(k, entry));
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
