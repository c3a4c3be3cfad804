// The push sender interface: one implementation per provider (APNs, FCM). The outbox worker
// (src/push/worker.ts) knows nothing about providers beyond these outcomes.

/** Platforms with a network provider; WEB tokens are stored only. */
export type PushPlatform = 'IOS' | 'ANDROID';

/** What a device is told about one notification. */
export interface PushMessage {
  notificationId: string;
  kind: string;
  /** Short heading, derived from the kind. */
  title: string;
  /** The notification's text. */
  body: string;
  eventId?: string | null;
  /** The recipient's unread count, shown on the app icon (iOS). */
  badge?: number;
}

/**
 * How a delivery attempt ended:
 * - `delivered`: the provider accepted it;
 * - `invalid-token`: the provider says the token will never work again; the device is removed;
 * - `retry`: a transient failure (5xx, 429, network, timeout); tried again after a backoff
 *   of at least `retryAfterMs` when the provider asked for one;
 * - `failed`: a permanent refusal of this message (it is not tried again).
 */
export type SendResult =
  | { outcome: 'delivered' }
  | { outcome: 'invalid-token'; error: string }
  | { outcome: 'retry'; error: string; retryAfterMs?: number }
  | { outcome: 'failed'; error: string };

export interface PushSender {
  readonly platform: PushPlatform;
  send(token: string, message: PushMessage): Promise<SendResult>;
  /** Closes connections; in-flight sends may fail with `retry`. */
  close(): Promise<void>;
}

/** Reads a Retry-After header (seconds or an HTTP date) as milliseconds. */
export function retryAfterMs(value: string | string[] | null | undefined): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
