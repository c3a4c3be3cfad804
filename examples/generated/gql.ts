/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "fragment ChatMessage on Message {\n  id\n  body\n  clientMessageId\n  status\n  createdAt\n  deleted\n  sender {\n    id\n    username\n  }\n  chat {\n    id\n  }\n}\n\nquery UserByUsername($username: String!) {\n  user(username: $username) {\n    id\n    username\n  }\n}\n\nmutation OpenChat($userId: ID!) {\n  openDirectChat(userId: $userId) {\n    id\n    members {\n      id\n      username\n    }\n  }\n}\n\nmutation Send($chatId: ID!, $body: String!, $clientMessageId: String) {\n  sendMessage(chatId: $chatId, body: $body, clientMessageId: $clientMessageId) {\n    ...ChatMessage\n  }\n}\n\nmutation MarkRead($chatId: ID!) {\n  markChatRead(chatId: $chatId) {\n    id\n    unreadCount\n  }\n}\n\nsubscription Incoming($chatId: ID!, $after: String) {\n  messageAdded(chatId: $chatId, after: $after) {\n    ...ChatMessage\n    cursor\n  }\n}\n\nsubscription StatusChanges($chatId: ID!) {\n  messageUpdated(chatId: $chatId) {\n    ...ChatMessage\n  }\n}": typeof types.ChatMessageFragmentDoc,
    "fragment Pin on Event {\n  id\n  title\n  latitude\n  longitude\n  startsAt\n  status\n  version\n  attendeeCount\n}\n\nquery Viewport($bounds: BoundsInput!, $first: Int, $after: String) {\n  eventsInBounds(bounds: $bounds, first: $first, after: $after) {\n    edges {\n      node {\n        ...Pin\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nsubscription ViewportChanges($bounds: BoundsInput!, $after: String) {\n  eventChanged(bounds: $bounds, after: $after) {\n    kind\n    eventId\n    version\n    occurredAt\n    cursor\n    event {\n      ...Pin\n    }\n  }\n}": typeof types.PinFragmentDoc,
    "fragment Session on AuthPayload {\n  accessToken\n  accessTokenExpiresAt\n  refreshToken\n  user {\n    id\n    username\n  }\n}\n\nmutation Login($username: String!, $password: String!) {\n  login(username: $username, password: $password) {\n    ...Session\n  }\n}\n\nmutation RefreshSession($refreshToken: String!) {\n  refreshSession(refreshToken: $refreshToken) {\n    ...Session\n  }\n}": typeof types.SessionFragmentDoc,
    "mutation UploadAvatar($file: Upload!, $caption: String) {\n  uploadImage(\n    input: {file: $file, type: PROFILE, isPrimary: true, caption: $caption}\n  ) {\n    id\n    url\n    width\n    height\n    sizeBytes\n    mimeType\n    isPrimary\n  }\n}\n\nquery MyAvatar {\n  me {\n    id\n    username\n    avatarUrl\n  }\n}": typeof types.UploadAvatarDocument,
};
const documents: Documents = {
    "fragment ChatMessage on Message {\n  id\n  body\n  clientMessageId\n  status\n  createdAt\n  deleted\n  sender {\n    id\n    username\n  }\n  chat {\n    id\n  }\n}\n\nquery UserByUsername($username: String!) {\n  user(username: $username) {\n    id\n    username\n  }\n}\n\nmutation OpenChat($userId: ID!) {\n  openDirectChat(userId: $userId) {\n    id\n    members {\n      id\n      username\n    }\n  }\n}\n\nmutation Send($chatId: ID!, $body: String!, $clientMessageId: String) {\n  sendMessage(chatId: $chatId, body: $body, clientMessageId: $clientMessageId) {\n    ...ChatMessage\n  }\n}\n\nmutation MarkRead($chatId: ID!) {\n  markChatRead(chatId: $chatId) {\n    id\n    unreadCount\n  }\n}\n\nsubscription Incoming($chatId: ID!, $after: String) {\n  messageAdded(chatId: $chatId, after: $after) {\n    ...ChatMessage\n    cursor\n  }\n}\n\nsubscription StatusChanges($chatId: ID!) {\n  messageUpdated(chatId: $chatId) {\n    ...ChatMessage\n  }\n}": types.ChatMessageFragmentDoc,
    "fragment Pin on Event {\n  id\n  title\n  latitude\n  longitude\n  startsAt\n  status\n  version\n  attendeeCount\n}\n\nquery Viewport($bounds: BoundsInput!, $first: Int, $after: String) {\n  eventsInBounds(bounds: $bounds, first: $first, after: $after) {\n    edges {\n      node {\n        ...Pin\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nsubscription ViewportChanges($bounds: BoundsInput!, $after: String) {\n  eventChanged(bounds: $bounds, after: $after) {\n    kind\n    eventId\n    version\n    occurredAt\n    cursor\n    event {\n      ...Pin\n    }\n  }\n}": types.PinFragmentDoc,
    "fragment Session on AuthPayload {\n  accessToken\n  accessTokenExpiresAt\n  refreshToken\n  user {\n    id\n    username\n  }\n}\n\nmutation Login($username: String!, $password: String!) {\n  login(username: $username, password: $password) {\n    ...Session\n  }\n}\n\nmutation RefreshSession($refreshToken: String!) {\n  refreshSession(refreshToken: $refreshToken) {\n    ...Session\n  }\n}": types.SessionFragmentDoc,
    "mutation UploadAvatar($file: Upload!, $caption: String) {\n  uploadImage(\n    input: {file: $file, type: PROFILE, isPrimary: true, caption: $caption}\n  ) {\n    id\n    url\n    width\n    height\n    sizeBytes\n    mimeType\n    isPrimary\n  }\n}\n\nquery MyAvatar {\n  me {\n    id\n    username\n    avatarUrl\n  }\n}": types.UploadAvatarDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment ChatMessage on Message {\n  id\n  body\n  clientMessageId\n  status\n  createdAt\n  deleted\n  sender {\n    id\n    username\n  }\n  chat {\n    id\n  }\n}\n\nquery UserByUsername($username: String!) {\n  user(username: $username) {\n    id\n    username\n  }\n}\n\nmutation OpenChat($userId: ID!) {\n  openDirectChat(userId: $userId) {\n    id\n    members {\n      id\n      username\n    }\n  }\n}\n\nmutation Send($chatId: ID!, $body: String!, $clientMessageId: String) {\n  sendMessage(chatId: $chatId, body: $body, clientMessageId: $clientMessageId) {\n    ...ChatMessage\n  }\n}\n\nmutation MarkRead($chatId: ID!) {\n  markChatRead(chatId: $chatId) {\n    id\n    unreadCount\n  }\n}\n\nsubscription Incoming($chatId: ID!, $after: String) {\n  messageAdded(chatId: $chatId, after: $after) {\n    ...ChatMessage\n    cursor\n  }\n}\n\nsubscription StatusChanges($chatId: ID!) {\n  messageUpdated(chatId: $chatId) {\n    ...ChatMessage\n  }\n}"): (typeof documents)["fragment ChatMessage on Message {\n  id\n  body\n  clientMessageId\n  status\n  createdAt\n  deleted\n  sender {\n    id\n    username\n  }\n  chat {\n    id\n  }\n}\n\nquery UserByUsername($username: String!) {\n  user(username: $username) {\n    id\n    username\n  }\n}\n\nmutation OpenChat($userId: ID!) {\n  openDirectChat(userId: $userId) {\n    id\n    members {\n      id\n      username\n    }\n  }\n}\n\nmutation Send($chatId: ID!, $body: String!, $clientMessageId: String) {\n  sendMessage(chatId: $chatId, body: $body, clientMessageId: $clientMessageId) {\n    ...ChatMessage\n  }\n}\n\nmutation MarkRead($chatId: ID!) {\n  markChatRead(chatId: $chatId) {\n    id\n    unreadCount\n  }\n}\n\nsubscription Incoming($chatId: ID!, $after: String) {\n  messageAdded(chatId: $chatId, after: $after) {\n    ...ChatMessage\n    cursor\n  }\n}\n\nsubscription StatusChanges($chatId: ID!) {\n  messageUpdated(chatId: $chatId) {\n    ...ChatMessage\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment Pin on Event {\n  id\n  title\n  latitude\n  longitude\n  startsAt\n  status\n  version\n  attendeeCount\n}\n\nquery Viewport($bounds: BoundsInput!, $first: Int, $after: String) {\n  eventsInBounds(bounds: $bounds, first: $first, after: $after) {\n    edges {\n      node {\n        ...Pin\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nsubscription ViewportChanges($bounds: BoundsInput!, $after: String) {\n  eventChanged(bounds: $bounds, after: $after) {\n    kind\n    eventId\n    version\n    occurredAt\n    cursor\n    event {\n      ...Pin\n    }\n  }\n}"): (typeof documents)["fragment Pin on Event {\n  id\n  title\n  latitude\n  longitude\n  startsAt\n  status\n  version\n  attendeeCount\n}\n\nquery Viewport($bounds: BoundsInput!, $first: Int, $after: String) {\n  eventsInBounds(bounds: $bounds, first: $first, after: $after) {\n    edges {\n      node {\n        ...Pin\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nsubscription ViewportChanges($bounds: BoundsInput!, $after: String) {\n  eventChanged(bounds: $bounds, after: $after) {\n    kind\n    eventId\n    version\n    occurredAt\n    cursor\n    event {\n      ...Pin\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment Session on AuthPayload {\n  accessToken\n  accessTokenExpiresAt\n  refreshToken\n  user {\n    id\n    username\n  }\n}\n\nmutation Login($username: String!, $password: String!) {\n  login(username: $username, password: $password) {\n    ...Session\n  }\n}\n\nmutation RefreshSession($refreshToken: String!) {\n  refreshSession(refreshToken: $refreshToken) {\n    ...Session\n  }\n}"): (typeof documents)["fragment Session on AuthPayload {\n  accessToken\n  accessTokenExpiresAt\n  refreshToken\n  user {\n    id\n    username\n  }\n}\n\nmutation Login($username: String!, $password: String!) {\n  login(username: $username, password: $password) {\n    ...Session\n  }\n}\n\nmutation RefreshSession($refreshToken: String!) {\n  refreshSession(refreshToken: $refreshToken) {\n    ...Session\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation UploadAvatar($file: Upload!, $caption: String) {\n  uploadImage(\n    input: {file: $file, type: PROFILE, isPrimary: true, caption: $caption}\n  ) {\n    id\n    url\n    width\n    height\n    sizeBytes\n    mimeType\n    isPrimary\n  }\n}\n\nquery MyAvatar {\n  me {\n    id\n    username\n    avatarUrl\n  }\n}"): (typeof documents)["mutation UploadAvatar($file: Upload!, $caption: String) {\n  uploadImage(\n    input: {file: $file, type: PROFILE, isPrimary: true, caption: $caption}\n  ) {\n    id\n    url\n    width\n    height\n    sizeBytes\n    mimeType\n    isPrimary\n  }\n}\n\nquery MyAvatar {\n  me {\n    id\n    username\n    avatarUrl\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;