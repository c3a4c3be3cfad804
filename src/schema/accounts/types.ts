import { builder } from '../../builder.ts';
import type { Session } from '../../services/accounts/index.ts';
import { User } from '../users/types.ts';

export const AuthPayload = builder.objectRef<Session>('AuthPayload').implement({
  description: 'A new session: send the access token as `Authorization: Bearer …`; keep the refresh token to renew it.',
  fields: (t) => ({
    accessToken: t.exposeString('accessToken', { description: 'A JWT valid for about 15 minutes.' }),
    accessTokenExpiresAt: t.expose('accessTokenExpiresAt', { type: 'DateTime', description: 'When the access token expires.' }),
    refreshToken: t.exposeString('refreshToken', {
      description: 'Single-use: refreshSession returns a new one. Reusing an old one signs the login out everywhere.',
    }),
    user: t.field({ type: User, description: 'The signed-in user.', resolve: (session) => session.user }),
  }),
});

export const RegisterInput = builder.inputType('RegisterInput', {
  description: 'A new account.',
  fields: (t) => ({
    username: t.string({ required: true, description: '3–30 characters of a-z, 0-9, "_" and "."; case-insensitive.' }),
    password: t.string({ required: true, description: '8–128 characters.' }),
    email: t.string({ description: 'Optional; unique when given.' }),
    fullName: t.string({ description: 'Display name, at most 150 characters.' }),
  }),
});
