// Apple Push Notification service: HTTP/2 with token-based auth (an ES256 JWT signed with
// the team's .p8 key). One HTTP/2 session is kept open and multiplexed, as Apple asks;
// http:// URLs speak cleartext HTTP/2 (h2c), for local fakes in tests.
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { importPKCS8, SignJWT } from 'jose';
import type { ApnsConfig } from './config.ts';
import { retryAfterMs } from './types.ts';
import type { PushMessage, PushSender, SendResult } from './types.ts';

/** Apple refuses provider tokens older than an hour and throttles refreshes more often than every 20 minutes. */
const PROVIDER_TOKEN_TTL_MS = 50 * 60_000;
/** How long APNs keeps a notification for an offline device. */
const EXPIRATION_SECONDS = 24 * 3600;

/** Reasons meaning the token will never work for this app again. */
const INVALID_TOKEN_REASONS = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic', 'Unregistered', 'ExpiredToken']);

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function apnsPayload(message: PushMessage) {
  return {
    aps: {
      alert: { title: message.title, body: message.body },
      ...(message.badge !== undefined ? { badge: message.badge } : {}),
      sound: 'default',
    },
    notificationId: message.notificationId,
    kind: message.kind,
    ...(message.eventId ? { eventId: message.eventId } : {}),
  };
}

export function createApnsSender(config: ApnsConfig, { timeoutMs }: { timeoutMs: number }): PushSender {
  const signingKey = importPKCS8(config.key, 'ES256');
  let providerToken: { jwt: string; issuedAt: number } | undefined;
  let session: ClientHttp2Session | undefined;

  async function bearer(): Promise<string> {
    if (providerToken && Date.now() - providerToken.issuedAt < PROVIDER_TOKEN_TTL_MS) return providerToken.jwt;
    const issuedAt = Date.now();
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: config.keyId })
      .setIssuer(config.teamId)
      .setIssuedAt(Math.floor(issuedAt / 1000))
      .sign(await signingKey);
    providerToken = { jwt, issuedAt };
    return jwt;
  }

  function connection(): ClientHttp2Session {
    if (session && !session.closed && !session.destroyed) return session;
    const s = http2.connect(config.url);
    // Failures reach the streams as errors; the session is dropped and the next send reconnects.
    s.on('error', () => s.destroy());
    s.on('goaway', () => {
      if (session === s) session = undefined;
      s.close();
    });
    s.on('close', () => {
      if (session === s) session = undefined;
    });
    s.once('connect', () => s.unref());
    session = s;
    return s;
  }

  /**
   * After a request timed out: keeps the session if it still answers a PING, else drops it
   * (a black-holed connection), so the next send opens a new one. Other streams on a healthy
   * session are left alone.
   */
  function checkAlive(s: ClientHttp2Session): void {
    if (s.destroyed || s.closed) return;
    if (s.connecting) return void s.destroy();
    const deadline = setTimeout(() => s.destroy(), timeoutMs);
    deadline.unref();
    const sent = s.ping((err) => {
      clearTimeout(deadline);
      if (err) s.destroy();
    });
    if (!sent) {
      clearTimeout(deadline);
      s.destroy();
    }
  }

  function post(token: string, headers: Record<string, string>, body: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const s = connection();
      const stream = s.request({
        ':method': 'POST',
        ':path': `/3/device/${token}`,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        ...headers,
      });
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        checkAlive(s);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      let status = 0;
      let replyHeaders: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => {
        status = Number(h[':status']);
        replyHeaders = h;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        clearTimeout(timer);
        resolve({ status, headers: replyHeaders, body: Buffer.concat(chunks).toString('utf8') });
      });
      stream.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.end(body);
    });
  }

  return {
    platform: 'IOS',
    async send(token: string, message: PushMessage): Promise<SendResult> {
      let reply: Reply;
      try {
        reply = await post(
          token,
          {
            authorization: `bearer ${await bearer()}`,
            'apns-topic': config.topic,
            'apns-push-type': 'alert',
            'apns-priority': '10',
            'apns-id': message.notificationId,
            'apns-expiration': String(Math.floor(Date.now() / 1000) + EXPIRATION_SECONDS),
          },
          JSON.stringify(apnsPayload(message)),
        );
      } catch (error) {
        return { outcome: 'retry', error: `APNs unreachable: ${(error as Error).message}` };
      }
      if (reply.status === 200) return { outcome: 'delivered' };
      let reason = '';
      try {
        const parsed = (JSON.parse(reply.body) as { reason?: unknown }).reason;
        reason = typeof parsed === 'string' ? parsed : '';
      } catch {
        // Not JSON (a proxy's error page): judged by the status alone.
      }
      const error = `APNs ${reply.status}${reason ? ` ${reason}` : ''}`;
      if (reply.status === 410 || INVALID_TOKEN_REASONS.has(reason)) return { outcome: 'invalid-token', error };
      if (reply.status === 403 && (reason === 'ExpiredProviderToken' || reason === 'InvalidProviderToken')) {
        providerToken = undefined;
        return { outcome: 'retry', error };
      }
      if (reply.status === 429 || reply.status >= 500)
        return { outcome: 'retry', error, retryAfterMs: retryAfterMs(reply.headers['retry-after']) };
      return { outcome: 'failed', error };
    },
    async close() {
      const s = session;
      session = undefined;
      if (!s || s.destroyed) return;
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => s.destroy(), 1_000);
        s.close(() => {
          clearTimeout(force);
          resolve();
        });
        s.once('close', () => resolve());
      });
    },
  };
}
