// Push configuration from the environment: the variables (spread into src/config.ts's schema)
// and their checks. Keys may be given inline or as file paths; they are parsed here, at
// start-up, so a bad key stops the server with one line instead of failing every push later.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const httpUrl = (fallback?: string) =>
  z
    .string()
    .refine((v) => /^https?:\/\/[^/\s]+/.test(v), {
      message: 'must be a URL starting with https:// (or http:// for local fakes)',
    })
    .transform((v) => v.replace(/\/+$/, ''))
    .optional()
    .transform((v) => v ?? fallback);

const int = (what: string, min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: `must be ${what}` })
    .int(`must be ${what}`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(fallback);

/** The push variables, spread into the environment schema of src/config.ts. */
export const pushEnv = {
  APNS_KEY: z.string().optional(),
  APNS_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9]{10}$/, 'must be the 10-character key id of the .p8 key')
    .optional(),
  APNS_TEAM_ID: z
    .string()
    .regex(/^[A-Za-z0-9]{10}$/, 'must be the 10-character Apple team id')
    .optional(),
  APNS_TOPIC: z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,200}$/, "must be the app's bundle id")
    .optional(),
  APNS_URL: httpUrl('https://api.push.apple.com'),
  FCM_SERVICE_ACCOUNT: z.string().optional(),
  FCM_URL: httpUrl('https://fcm.googleapis.com'),
  FCM_TOKEN_URL: httpUrl(),
  PUSH_MAX_ATTEMPTS: int('a whole number', 1, 50, 8),
  PUSH_RETRY_BASE_MS: int('a number of milliseconds', 1, 3_600_000, 5_000),
  PUSH_POLL_MS: int('a number of milliseconds', 10, 60_000, 1_000),
  PUSH_TIMEOUT_MS: int('a number of milliseconds', 100, 120_000, 10_000),
};

export type PushEnv = z.infer<z.ZodObject<typeof pushEnv>>;

export interface ApnsConfig {
  /** The .p8 signing key (PKCS#8 PEM, P-256). */
  key: string;
  keyId: string;
  teamId: string;
  /** The app's bundle id. */
  topic: string;
  /** https://api.push.apple.com, https://api.sandbox.push.apple.com, or a local fake. */
  url: string;
}

export interface FcmConfig {
  projectId: string;
  clientEmail: string;
  /** The service account's RSA key (PKCS#8 PEM). */
  privateKey: string;
  privateKeyId?: string;
  /** Base URL of the FCM HTTP v1 API. */
  url: string;
  /** OAuth2 token endpoint the service-account JWT is exchanged at. */
  tokenUrl: string;
}

export interface PushConfig {
  /** Absent: no iOS push. */
  apns?: ApnsConfig;
  /** Absent: no Android push. */
  fcm?: FcmConfig;
  /** Attempts per job before it is given up. */
  maxAttempts: number;
  /** First retry delay; each further retry doubles it (capped at an hour). */
  retryBaseMs: number;
  /** How often each instance looks for due jobs. */
  pollMs: number;
  /** Deadline of one provider request. */
  timeoutMs: number;
}

/** An error whose message starts with the variable's name; src/config.ts prefixes it. */
class PushConfigError extends Error {}

/** Inline contents, or the contents of the file the value names. */
function inlineOrFile(name: string, value: string, looksInline: (v: string) => boolean): string {
  if (looksInline(value.trim())) return value.trim();
  try {
    return readFileSync(value, 'utf8').trim();
  } catch {
    throw new PushConfigError(`${name} must hold the key itself or the path of a readable file (cannot read ${value})`);
  }
}

// Keys pasted into .env files often carry literal "\n" for newlines.
const pemNewlines = (pem: string) => pem.replace(/\\n/g, '\n');

function checkKey(name: string, pem: string, type: 'ec' | 'rsa'): void {
  if (!pem.includes('-----BEGIN PRIVATE KEY-----'))
    throw new PushConfigError(`${name} must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)`);
  let key;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new PushConfigError(`${name} is not a readable private key`);
  }
  if (key.asymmetricKeyType !== type || (type === 'ec' && key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
    throw new PushConfigError(
      `${name} must be ${type === 'ec' ? 'an ES256 (P-256) key, as Apple issues' : 'an RSA key, as Google issues'}`,
    );
  }
}

function apnsFrom(e: PushEnv): ApnsConfig | undefined {
  const parts = {
    APNS_KEY: e.APNS_KEY,
    APNS_KEY_ID: e.APNS_KEY_ID,
    APNS_TEAM_ID: e.APNS_TEAM_ID,
    APNS_TOPIC: e.APNS_TOPIC,
  };
  const missing = Object.entries(parts)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
  if (missing.length === 4) return undefined;
  if (missing.length)
    throw new PushConfigError(
      `${missing[0]} must be set too: APNS_KEY, APNS_KEY_ID, APNS_TEAM_ID and APNS_TOPIC go together`,
    );
  const key = pemNewlines(inlineOrFile('APNS_KEY', e.APNS_KEY!, (v) => v.startsWith('-----BEGIN')));
  checkKey('APNS_KEY', key, 'ec');
  return { key, keyId: e.APNS_KEY_ID!, teamId: e.APNS_TEAM_ID!, topic: e.APNS_TOPIC!, url: e.APNS_URL! };
}

function fcmFrom(e: PushEnv): FcmConfig | undefined {
  if (e.FCM_SERVICE_ACCOUNT === undefined) return undefined;
  const raw = inlineOrFile('FCM_SERVICE_ACCOUNT', e.FCM_SERVICE_ACCOUNT, (v) => v.startsWith('{'));
  let account: Record<string, unknown>;
  try {
    account = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new PushConfigError('FCM_SERVICE_ACCOUNT must be a service-account JSON key (or the path of one)');
  }
  const str = (field: string) =>
    typeof account[field] === 'string' && account[field] ? (account[field] as string) : undefined;
  for (const field of ['project_id', 'client_email', 'private_key']) {
    if (!str(field))
      throw new PushConfigError(`FCM_SERVICE_ACCOUNT lacks ${field}: use the JSON key of a service account`);
  }
  const privateKey = pemNewlines(str('private_key')!);
  checkKey('FCM_SERVICE_ACCOUNT private_key', privateKey, 'rsa');
  const tokenUrl = e.FCM_TOKEN_URL ?? str('token_uri') ?? 'https://oauth2.googleapis.com/token';
  if (!/^https?:\/\//.test(tokenUrl))
    throw new PushConfigError('FCM_SERVICE_ACCOUNT token_uri must be an https:// URL');
  return {
    projectId: str('project_id')!,
    clientEmail: str('client_email')!,
    privateKey,
    privateKeyId: str('private_key_id'),
    url: e.FCM_URL!,
    tokenUrl,
  };
}

/** The push part of the configuration. Throws an Error whose message names the variable. */
export function pushConfigFrom(e: PushEnv): PushConfig {
  return {
    apns: apnsFrom(e),
    fcm: fcmFrom(e),
    maxAttempts: e.PUSH_MAX_ATTEMPTS,
    retryBaseMs: e.PUSH_RETRY_BASE_MS,
    pollMs: e.PUSH_POLL_MS,
    timeoutMs: e.PUSH_TIMEOUT_MS,
  };
}
