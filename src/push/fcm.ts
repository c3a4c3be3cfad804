// Firebase Cloud Messaging, HTTP v1 API. Requests carry an OAuth2 access token obtained by
// exchanging a JWT signed with the service account's key (RFC 7523 bearer grant); the token
// is cached until shortly before it expires, and concurrent sends share one exchange.
import { importPKCS8, SignJWT } from 'jose';
import type { FcmConfig } from './config.ts';
import { retryAfterMs } from './types.ts';
import type { PushMessage, PushSender, SendResult } from './types.ts';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Renew this long before the access token's stated expiry. */
const EXPIRY_MARGIN_MS = 60_000;

interface FcmErrorBody {
  error?: {
    code?: number;
    status?: string;
    message?: string;
    details?: Array<{ '@type'?: string; errorCode?: string; fieldViolations?: Array<{ field?: string }> }>;
  };
}

export function fcmMessage(token: string, message: PushMessage) {
  return {
    message: {
      token,
      notification: { title: message.title, body: message.body },
      // FCM data values must be strings.
      data: {
        notificationId: message.notificationId,
        kind: message.kind,
        ...(message.eventId ? { eventId: message.eventId } : {}),
      },
      android: { priority: 'HIGH', ttl: '86400s' },
    },
  };
}

export function createFcmSender(config: FcmConfig, { timeoutMs }: { timeoutMs: number }): PushSender {
  const signingKey = importPKCS8(config.privateKey, 'RS256');
  let access: { token: string; expiresAt: number } | undefined;
  let exchanging: Promise<string> | undefined;
  const endpoint = `${config.url}/v1/projects/${encodeURIComponent(config.projectId)}/messages:send`;

  async function exchange(): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(config.privateKeyId ? { kid: config.privateKeyId } : {}) })
      .setIssuer(config.clientEmail)
      .setAudience(config.tokenUrl)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(await signingKey);
    const res = await fetch(config.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json().catch(() => ({}))) as {
      access_token?: unknown;
      expires_in?: unknown;
      error?: unknown;
    };
    if (!res.ok || typeof body.access_token !== 'string') {
      throw new Error(
        `token endpoint answered ${res.status}${body.error ? ` ${typeof body.error === 'string' ? body.error : JSON.stringify(body.error)}` : ''}`,
      );
    }
    const lifetimeMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600) * 1000;
    access = { token: body.access_token, expiresAt: Date.now() + Math.max(0, lifetimeMs - EXPIRY_MARGIN_MS) };
    return body.access_token;
  }

  function accessToken(): Promise<string> {
    if (access && access.expiresAt > Date.now()) return Promise.resolve(access.token);
    exchanging ??= exchange().finally(() => {
      exchanging = undefined;
    });
    return exchanging;
  }

  return {
    platform: 'ANDROID',
    async send(token: string, message: PushMessage): Promise<SendResult> {
      let res: Response;
      let text: string;
      try {
        const bearer = await accessToken();
        res = await fetch(endpoint, {
          method: 'POST',
          headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify(fcmMessage(token, message)),
          signal: AbortSignal.timeout(timeoutMs),
        });
        text = await res.text();
      } catch (error) {
        return { outcome: 'retry', error: `FCM unreachable: ${(error as Error).message}` };
      }
      if (res.ok) return { outcome: 'delivered' };
      let body: FcmErrorBody = {};
      try {
        body = JSON.parse(text) as FcmErrorBody;
      } catch {
        // Not JSON: judged by the status alone.
      }
      const status = body.error?.status ?? '';
      const errorCode = body.error?.details?.find((d) => d['@type']?.endsWith('FcmError'))?.errorCode ?? status;
      const error = `FCM ${res.status} ${errorCode}${body.error?.message ? `: ${body.error.message}` : ''}`.slice(
        0,
        900,
      );
      const aboutToken =
        body.error?.details?.some((d) => d.fieldViolations?.some((v) => v.field === 'message.token')) ||
        /registration token/i.test(body.error?.message ?? '');
      if (
        errorCode === 'UNREGISTERED' ||
        errorCode === 'SENDER_ID_MISMATCH' ||
        (errorCode === 'INVALID_ARGUMENT' && aboutToken)
      ) {
        return { outcome: 'invalid-token', error };
      }
      if (res.status === 401) {
        access = undefined;
        return { outcome: 'retry', error };
      }
      if (res.status === 429 || res.status >= 500)
        return { outcome: 'retry', error, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
      return { outcome: 'failed', error };
    },
    async close() {},
  };
}
