// Access tokens are short-lived HS256 JWTs; refresh tokens are opaque random strings of
// which only a SHA-256 hash is stored.
import { createHash, randomBytes } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
const ISSUER = 'pinit-api';

export type Role = 'USER' | 'ADMIN';

export interface AccessClaims {
  userId: string;
  /** The role when the token was signed; the live one is the session's (services/accounts/sessions.ts). */
  role: Role;
  /** The session (refresh-token family) the token was issued for: the `sid` claim. */
  sessionId: string;
  /** Expiry, in epoch seconds. */
  expiresAt: number;
}

export interface TokenIssuer {
  sign(userId: string, role: Role, sessionId: string): Promise<{ token: string; expiresAt: Date }>;
  /** Throws TokenError for a malformed, forged or expired token, or one that names no session. */
  verify(token: string): Promise<AccessClaims>;
}

export class TokenError extends Error {
  constructor(readonly reason: 'expired' | 'invalid') {
    super(reason === 'expired' ? 'Access token expired' : 'Invalid access token');
  }
}

/** Verified tokens remembered per issuer (the oldest is forgotten first). */
const VERIFIED_TOKENS_MAX = 10_000;

/** An HS256 JWT of this service: the claims, subject, issuer, issue time and expiry (whole seconds). */
export function signJwt(
  key: Uint8Array,
  {
    claims,
    subject,
    issuer,
    expiresAt,
  }: { claims: Record<string, string>; subject: string; issuer: string; expiresAt: Date },
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject)
    .setIssuer(issuer)
    .setIssuedAt()
    .setExpirationTime(expiresAt)
    .sign(key);
}

export function createTokenIssuer(secret: string, ttlSeconds = ACCESS_TOKEN_TTL_SECONDS): TokenIssuer {
  const key = new TextEncoder().encode(secret);
  // Tokens already verified, until they expire: a client sends the same token with every
  // request and socket, and jose's HMAC check (WebCrypto, async) was ~10% of a send's CPU.
  const verified = new Map<string, AccessClaims>();
  return {
    async sign(userId, role, sessionId) {
      const expiresAt = new Date(Math.floor(Date.now() / 1000 + ttlSeconds) * 1000);
      const token = await signJwt(key, {
        claims: { role, sid: sessionId },
        subject: userId,
        issuer: ISSUER,
        expiresAt,
      });
      return { token, expiresAt };
    },
    async verify(token) {
      const known = verified.get(token);
      if (known) {
        // jose's rule: expired once exp is not after now (whole seconds).
        if (known.expiresAt > Math.floor(Date.now() / 1000)) return { ...known };
        verified.delete(token);
        throw new TokenError('expired');
      }
      try {
        const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], issuer: ISSUER });
        const { role, sid } = payload;
        // A token without a session (signed before sessions were named) cannot be revoked: refused.
        if (
          typeof payload.sub !== 'string' ||
          (role !== 'USER' && role !== 'ADMIN') ||
          typeof sid !== 'string' ||
          typeof payload.exp !== 'number'
        ) {
          throw new TokenError('invalid');
        }
        const claims: AccessClaims = { userId: payload.sub, role, sessionId: sid, expiresAt: payload.exp };
        if (verified.size >= VERIFIED_TOKENS_MAX) verified.delete(verified.keys().next().value!);
        verified.set(token, claims);
        return { ...claims };
      } catch (error) {
        if (error instanceof TokenError) throw error;
        throw new TokenError(error instanceof joseErrors.JWTExpired ? 'expired' : 'invalid');
      }
    },
  };
}

/** `Bearer <token>` → token; undefined when absent; null when malformed. */
export function parseBearer(header: unknown): string | undefined | null {
  if (header === undefined || header === null || header === '') return undefined;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

export const newRefreshToken = () => randomBytes(32).toString('base64url');
export const hashRefreshToken = (token: string) => createHash('sha256').update(token).digest('hex');
