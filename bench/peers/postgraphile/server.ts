// The PostGraphile 5 peer of case 1 as a process of its own (bench/peers/postgraphile.ts starts
// it): PostGraphile's Amber preset over the bench database, served by grafserv on node:http.
//   DATABASE_URL  the database the case seeded (the SQL of bench/peers/postgraphile.ts installed)
//   PORT          where to listen, on 127.0.0.1
//   JWT_SECRET    the API's: bearer tokens are verified as the API and the raw endpoint do
//   POOL_SIZE     PostGraphile's pg.Pool, the app's size
import './promise-with-resolvers.ts';
import { createServer } from 'node:http';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { createTokenIssuer } from '../../../src/auth/tokens.ts';
import { PEER_SCHEMA } from '../postgraphile.ts';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`postgraphile peer: ${name} is not set`);
  return value;
}

const tokens = createTokenIssuer(env('JWT_SECRET'));
const bearer = /^Bearer (\S+)$/;

const preset: GraphileConfig.Preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: env('DATABASE_URL'),
      // public for the tables (events, users, their relation), the peer's schema for its functions.
      schemas: ['public', PEER_SCHEMA],
      poolConfig: { max: Number(env('POOL_SIZE')) },
    }),
  ],
  // Reads only: the app's tables are not this server's to write.
  schema: { defaultBehavior: '-insert -update -delete' },
  grafserv: { graphqlPath: '/graphql', websockets: false, graphiql: false },
  grafast: {
    explain: false,
    // What the raw endpoint and the API do first: a request without a valid token is refused.
    // The viewer itself reaches SQL as the page function's argument (postgraphile-sql.ts).
    async context(requestContext) {
      const token = bearer.exec(requestContext.node?.req.headers.authorization ?? '')?.[1];
      if (!token) throw new Error('Authorization must be "Bearer <accessToken>"');
      await tokens.verify(token);
      return {};
    },
  },
};

const pgl = postgraphile(preset);
// Built before listening, so the first request the bench sends is not the one that waits for it.
await pgl.getSchema();
const server = createServer();
await pgl.createServ(grafserv).addTo(server, false);
server.listen(Number(env('PORT')), '127.0.0.1');

const stop = () => {
  server.closeAllConnections();
  server.close(() => void Promise.resolve(pgl.release()).finally(() => process.exit(0)));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
