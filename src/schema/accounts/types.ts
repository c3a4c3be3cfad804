import { builder } from '../../builder.ts';
import { ACCESS_TOKEN_TTL_SECONDS } from '../../services/accounts/index.ts';
import { FULL_NAME_MAX, PASSWORD_LENGTH, USERNAME_LENGTH } from '../../services/accounts/index.ts';
import type { Session } from '../../services/accounts/index.ts';
import { User } from '../users/types.ts';

export const AuthPayload = builder.objectRef<Session>('AuthPayload').implement({
  description: 'A new session: send the access token as `Authorization: Bearer …`; keep the refresh token to renew it.',
  fields: (t) => ({
    accessToken: t.exposeString('accessToken', {
      description: `A JWT valid for about ${ACCESS_TOKEN_TTL_SECONDS / 60} minutes.`,
    }),
    accessTokenExpiresAt: t.expose('accessTokenExpiresAt', {
      type: 'DateTime',
      description: 'When the access token expires.',
    }),
    refreshToken: t.exposeString('refreshToken', {
      description: 'Single-use: refreshSession returns a new one. Reusing an old one signs the login out everywhere.',
    }),
    user: t.field({ type: User, description: 'The signed-in user.', resolve: (session) => session.user }),
  }),
});

export const RegisterInput = builder.inputType('RegisterInput', {
  description: 'A new account.',
  fields: (t) => ({
    username: t.string({
      required: true,
      description: `${USERNAME_LENGTH.min}–${USERNAME_LENGTH.max} characters of a-z, 0-9, "_" and "."; case-insensitive.`,
    }),
    password: t.string({ required: true, description: `${PASSWORD_LENGTH.min}–${PASSWORD_LENGTH.max} characters.` }),
    email: t.string({ description: 'Optional; unique when given.' }),
    fullName: t.string({ description: `Display name, at most ${FULL_NAME_MAX} characters.` }),
  }),
});

export const DataExport = builder.objectRef<{ url: string; expiresAt: Date }>('DataExport').implement({
  description: 'A download of everything the server keeps about the viewer (exportMyData).',
  fields: (t) => ({
    url: t.exposeString('url', {
      description:
        'A link to one JSON document holding everything the server keeps about the viewer. Only its holder can use it (keep it private); it needs no Authorization header. It expires.',
    }),
    expiresAt: t.expose('expiresAt', {
      type: 'DateTime',
      description: 'When the link stops working (sooner if the session that asked for it ends).',
    }),
  }),
});
