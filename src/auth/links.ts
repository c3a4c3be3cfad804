// Download links that only their holder can use: a signed, expiring token in the URL, for a
// client to hand to a browser or a download manager that sends no Authorization header (the
// data export). The token names the session that asked for it, so ending that session (logout,
// password change, suspension, deletion) kills the link too. Signed with the access tokens'
// secret under another issuer: a link is never an access token, nor the reverse.
import { errors as joseErrors, jwtVerify } from 'jose';
import { signJwt } from './tokens.ts';

const ISSUER = 'pinit-api/download';

export interface DownloadClaims {
  userId: string;
  sessionId: string;
  /** What the link downloads ("export"). */
  purpose: string;
}

export interface DownloadLinks {
  /** A link to `path` (under the public base URL) for the claims, expiring after the configured time. */
  sign(path: string, claims: DownloadClaims): Promise<{ url: string; expiresAt: Date }>;
  /** The claims of a link's token for this purpose; 'expired' or 'invalid' otherwise. */
  verify(token: string, purpose: string): Promise<DownloadClaims | 'expired' | 'invalid'>;
}

export function createDownloadLinks(
  secret: string,
  { ttlSeconds, baseUrl }: { ttlSeconds: number; baseUrl: () => string },
): DownloadLinks {
  const key = new TextEncoder().encode(secret);
  return {
    async sign(path, { userId, sessionId, purpose }) {
      const expiresAt = new Date(Math.floor(Date.now() / 1000 + ttlSeconds) * 1000);
      const token = await signJwt(key, {
        claims: { sid: sessionId, purpose },
        subject: userId,
        issuer: ISSUER,
        expiresAt,
      });
      // In the query string: request logs keep the path only (src/transport/server.ts).
      return { url: `${baseUrl()}${path}?token=${token}`, expiresAt };
    },
    async verify(token, purpose) {
      if (token.length > 2000) return 'invalid';
      try {
        const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], issuer: ISSUER });
        if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || payload.purpose !== purpose)
          return 'invalid';
        return { userId: payload.sub, sessionId: payload.sid, purpose };
      } catch (error) {
        return error instanceof joseErrors.JWTExpired ? 'expired' : 'invalid';
      }
    },
  };
}
