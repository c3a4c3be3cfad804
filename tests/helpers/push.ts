// Local fakes of the push providers, started by the tests on 127.0.0.1: an HTTP/2 (h2c)
// server for APNs and an HTTP server for FCM and its OAuth2 token endpoint. They check what
// a real provider checks (path, headers, JWT signatures and claims, payload) and answer as the
// test tells them. Keys are generated per test run.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { exportPKCS8, generateKeyPair, jwtVerify } from 'jose';
import type { CryptoKey, JWTPayload } from 'jose';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Never answer (until the client gives up). */
  hang?: boolean;
  /** Answer after this long. */
  delayMs?: number;
}

export interface Delivery {
  /** The device token from the path (APNs) or the message (FCM). */
  token: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  jwt?: JWTPayload;
  at: number;
}

export interface FakeProvider {
  url: string;
  /** Every well-formed send request, answered or not. */
  requests: Delivery[];
  /** Requests the fake refused as malformed (the tests expect none). */
  problems: string[];
  /** How the fake answers a well-formed send; 200 by default. */
  respond: (request: Delivery) => Reply;
  /** Requests still waiting for an answer. */
  open: number;
  close(): Promise<void>;
}

export const APNS = { keyId: 'KEY1234567', teamId: 'TEAM123456', topic: 'com.pinit.app' } as const;
export const FCM = {
  projectId: 'pinit-test',
  clientEmail: 'push@pinit-test.iam.gserviceaccount.com',
  keyId: 'fcm-key-1',
} as const;
const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface PushKeys {
  apnsPem: string;
  apnsPublic: CryptoKey;
  fcmPem: string;
  fcmPublic: CryptoKey;
}

export async function generatePushKeys(): Promise<PushKeys> {
  const apns = await generateKeyPair('ES256', { extractable: true });
  const fcm = await generateKeyPair('RS256', { extractable: true });
  return {
    apnsPem: await exportPKCS8(apns.privateKey),
    apnsPublic: apns.publicKey,
    fcmPem: await exportPKCS8(fcm.privateKey),
    fcmPublic: fcm.publicKey,
  };
}

/** The environment that points a server's push at the fakes. */
export function pushEnv(
  keys: PushKeys,
  apns: Pick<FakeProvider, 'url'>,
  fcm: Pick<FakeProvider, 'url'>,
  extra: Record<string, string> = {},
) {
  return {
    APNS_KEY: keys.apnsPem,
    APNS_KEY_ID: APNS.keyId,
    APNS_TEAM_ID: APNS.teamId,
    APNS_TOPIC: APNS.topic,
    APNS_URL: apns.url,
    FCM_SERVICE_ACCOUNT: JSON.stringify({
      type: 'service_account',
      project_id: FCM.projectId,
      private_key_id: FCM.keyId,
      private_key: keys.fcmPem,
      client_email: FCM.clientEmail,
      token_uri: `${fcm.url}/token`,
    }),
    FCM_URL: fcm.url,
    PUSH_POLL_MS: '50',
    PUSH_RETRY_BASE_MS: '50',
    PUSH_MAX_ATTEMPTS: '4',
    PUSH_TIMEOUT_MS: '2000',
    ...extra,
  };
}

function answerLater(reply: Reply, fake: FakeProvider, send: (reply: Reply) => void) {
  if (reply.hang) return;
  const answer = () => {
    fake.open -= 1;
    send(reply);
  };
  if (reply.delayMs) setTimeout(answer, reply.delayMs);
  else answer();
}

/** A fake APNs: HTTP/2 over cleartext (h2c), POST /3/device/<token> with a provider JWT. */
export async function startFakeApns(keys: PushKeys): Promise<FakeProvider> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  const fake: FakeProvider = {
    url: '',
    requests: [],
    problems: [],
    open: 0,
    respond: () => ({ status: 200 }),
    close: async () => {
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    // The handler answers every outcome itself, errors included.
    // eslint-disable-next-line @typescript-eslint/no-misused-promises
    stream.on('end', async () => {
      const refuse = (why: string) => {
        fake.problems.push(why);
        if (!stream.closed) {
          stream.respond({ ':status': 400, 'content-type': 'application/json' });
          stream.end(JSON.stringify({ reason: 'FakeRejected' }));
        }
      };
      const path = String(headers[':path']);
      const token = /^\/3\/device\/([0-9a-f]+)$/.exec(path)?.[1];
      if (headers[':method'] !== 'POST' || !token) return refuse(`bad request line ${headers[':method']} ${path}`);
      const auth = String(headers.authorization ?? '');
      if (!auth.startsWith('bearer ')) return refuse('no bearer provider token');
      let jwt: JWTPayload;
      try {
        const verified = await jwtVerify(auth.slice(7), keys.apnsPublic, {
          issuer: APNS.teamId,
          algorithms: ['ES256'],
        });
        if (verified.protectedHeader.kid !== APNS.keyId) return refuse(`kid ${verified.protectedHeader.kid}`);
        jwt = verified.payload;
      } catch (error) {
        return refuse(`provider token: ${(error as Error).message}`);
      }
      if (typeof jwt.iat !== 'number' || Math.abs(jwt.iat - Date.now() / 1000) > 3600)
        return refuse('iat missing or stale');
      if (headers['apns-topic'] !== APNS.topic) return refuse(`apns-topic ${String(headers['apns-topic'])}`);
      if (headers['apns-push-type'] !== 'alert') return refuse(`apns-push-type ${String(headers['apns-push-type'])}`);
      if (!UUID.test(String(headers['apns-id']))) return refuse(`apns-id ${String(headers['apns-id'])}`);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return refuse('payload is not JSON');
      }
      const aps = body.aps as { alert?: { title?: unknown; body?: unknown } } | undefined;
      if (
        typeof aps?.alert?.body !== 'string' ||
        body.notificationId !== headers['apns-id'] ||
        typeof body.kind !== 'string'
      ) {
        return refuse(`payload ${JSON.stringify(body)}`);
      }
      const delivery: Delivery = { token, headers, body, jwt, at: Date.now() };
      fake.requests.push(delivery);
      fake.open += 1;
      answerLater(fake.respond(delivery), fake, (reply) => {
        if (stream.closed) return;
        stream.respond({ ':status': reply.status, 'content-type': 'application/json', ...reply.headers });
        stream.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

export interface FakeFcm extends FakeProvider {
  /** Access tokens handed out by the token endpoint. */
  issued: string[];
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A fake FCM: POST /token (RFC 7523 JWT bearer grant) and POST /v1/projects/<id>/messages:send. */
export async function startFakeFcm(keys: PushKeys): Promise<FakeFcm> {
  const fake: FakeFcm = {
    url: '',
    requests: [],
    problems: [],
    issued: [],
    open: 0,
    respond: () => ({ status: 200 }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.writableEnded) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const refuse = (res: ServerResponse, why: string) => {
    fake.problems.push(why);
    json(res, 400, { error: { code: 400, status: 'FAILED_PRECONDITION', message: `fake refused: ${why}` } });
  };
  // The handler answers every outcome itself, errors included.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  const server = createServer(async (req, res) => {
    const raw = await readBody(req);
    if (req.method === 'POST' && req.url === '/token') {
      if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded'))
        return refuse(res, 'token request is not a form');
      const form = new URLSearchParams(raw);
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
        return refuse(res, `grant_type ${form.get('grant_type')}`);
      try {
        const { payload, protectedHeader } = await jwtVerify(form.get('assertion') ?? '', keys.fcmPublic, {
          issuer: FCM.clientEmail,
          audience: `${fake.url}/token`,
          algorithms: ['RS256'],
        });
        if (payload.scope !== FCM_SCOPE) return refuse(res, `scope ${String(payload.scope)}`);
        if (protectedHeader.kid !== FCM.keyId) return refuse(res, `kid ${protectedHeader.kid}`);
        if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number' || payload.exp - payload.iat > 3600)
          return refuse(res, 'iat/exp');
      } catch (error) {
        return refuse(res, `assertion: ${(error as Error).message}`);
      }
      const token = `ya29.fake-${fake.issued.length + 1}`;
      fake.issued.push(token);
      return json(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
    }
    if (req.method !== 'POST' || req.url !== `/v1/projects/${FCM.projectId}/messages:send`)
      return refuse(res, `bad request line ${req.method} ${req.url}`);
    const bearer = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!fake.issued.includes(bearer)) return refuse(res, 'unknown access token');
    if (!String(req.headers['content-type']).startsWith('application/json')) return refuse(res, 'send is not JSON');
    let body: { message?: { token?: unknown; notification?: { body?: unknown }; data?: Record<string, unknown> } };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      return refuse(res, 'body is not JSON');
    }
    const message = body.message;
    const data = message?.data ?? {};
    if (
      typeof message?.token !== 'string' ||
      typeof message.notification?.body !== 'string' ||
      !UUID.test(String(data.notificationId))
    ) {
      return refuse(res, `message ${raw}`);
    }
    if (Object.values(data).some((v) => typeof v !== 'string')) return refuse(res, 'data values must be strings');
    const delivery: Delivery = {
      token: message.token,
      headers: req.headers,
      body: body as Record<string, unknown>,
      at: Date.now(),
    };
    fake.requests.push(delivery);
    fake.open += 1;
    answerLater(fake.respond(delivery), fake, (reply) =>
      json(res, reply.status, reply.body ?? { name: `projects/${FCM.projectId}/messages/1` }, reply.headers),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
