// Demo data for the embedded default: a few dozen people and events around Berlin, so a
// fresh `npm start` shows a living map. Every demo account's password is DEMO_PASSWORD.
import { hashPassword } from '../src/auth/passwords.ts';
import type { PrismaClient } from '../src/generated/prisma/client.ts';

export const DEMO_PASSWORD = 'pinit-demo-password';
const CENTER = { latitude: 52.52, longitude: 13.405 };

const FIRST = [
  'Ada',
  'Ben',
  'Cleo',
  'Dev',
  'Emil',
  'Fatima',
  'Gus',
  'Hana',
  'Ivo',
  'Jana',
  'Kofi',
  'Lena',
  'Milo',
  'Nora',
  'Omar',
  'Pia',
];
const LAST = ['Novak', 'Schulz', 'Okafor', 'Rossi', 'Kim', 'Berg', 'Yilmaz', 'Costa'];
const UNIVERSITIES = ['TU Berlin', 'HU Berlin', 'FU Berlin', 'UdK Berlin'];
const INTERESTS = [
  'python',
  'machine learning',
  'startups',
  'jazz',
  'climbing',
  'chess',
  'design',
  'photography',
  'german',
  'running',
];
const EVENT_TITLES: Record<'STUDY' | 'PARTY' | 'BUSINESS' | 'OTHER', string[]> = {
  STUDY: ['Linear algebra study group', 'Thesis writing sprint', 'German conversation hour', 'Algorithms exam prep'],
  PARTY: ['Rooftop sundowner', 'Board game night', 'Jazz jam afterparty'],
  BUSINESS: ['Founders breakfast', 'Design critique meetup', 'Pitch practice'],
  OTHER: ['Tempelhof picnic', 'Bouldering session', 'Photo walk in Mitte'],
};

// A small deterministic generator, so every fresh database gets the same demo.
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1664525 + 1013904223) % 2 ** 32;
    return state / 2 ** 32;
  };
}

/**
 * Loads the demo into an empty database; returns null when it already has users. Instances
 * starting together on one database serialize on an advisory lock, so only one seeds.
 */
export async function seedDemo(prisma: PrismaClient): Promise<{ users: number; events: number } | null> {
  const rnd = random(42);
  const pick = <T>(items: readonly T[]) => items[Math.floor(rnd() * items.length)]!;
  const passwordHash = await hashPassword(DEMO_PASSWORD);

  const users = Array.from({ length: 36 }, (_, i) => {
    const first = FIRST[i % FIRST.length]!;
    const last = LAST[Math.floor(i / 2) % LAST.length]!;
    const interests = [...new Set([pick(INTERESTS), pick(INTERESTS), pick(INTERESTS)])];
    return {
      username: `${first}.${last}${i}`.toLowerCase(),
      fullName: `${first} ${last}`,
      passwordHash,
      university: pick(UNIVERSITIES),
      bio: `Into ${interests.join(', ')}.`,
      interests,
      isCertified: i % 3 === 0,
      homeLatitude: CENTER.latitude + (rnd() - 0.5) * 0.2,
      homeLongitude: CENTER.longitude + (rnd() - 0.5) * 0.3,
    };
  });

  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(7270736)`;
    if ((await tx.user.count()) > 0) return null;
    const created = await tx.user.createManyAndReturn({ data: users, select: { id: true, isCertified: true } });
    await tx.reputation.createMany({ data: created.map((u) => ({ userId: u.id, trustLevelId: 1 })) });

    const now = Date.now();
    const events = Array.from({ length: 30 }, (_, i) => {
      const host = created[i % created.length]!;
      const type = pick(['STUDY', 'PARTY', 'BUSINESS', 'OTHER'] as const);
      const startsAt = new Date(now + (Math.floor(rnd() * 14 * 24) - 24) * 3600_000);
      return {
        hostId: host.id,
        title: pick(EVENT_TITLES[type]),
        description: 'A demo event from the seed data.',
        latitude: CENTER.latitude + (rnd() - 0.5) * 0.15,
        longitude: CENTER.longitude + (rnd() - 0.5) * 0.25,
        locationName: 'Berlin',
        startsAt,
        endsAt: new Date(startsAt.getTime() + (1 + Math.floor(rnd() * 4)) * 3600_000),
        isPublic: host.isCertified,
        type,
        maxParticipants: 5 + Math.floor(rnd() * 20),
        interestTags: [pick(INTERESTS)],
      };
    });
    const createdEvents = await tx.event.createManyAndReturn({ data: events, select: { id: true, hostId: true } });
    // Every event has a chat of its host (and, later, its attendees).
    const chats = await tx.chat.createManyAndReturn({
      data: createdEvents.map((e) => ({ kind: 'EVENT' as const, eventId: e.id, createdById: e.hostId })),
      select: { id: true, createdById: true },
    });
    await tx.chatMember.createMany({ data: chats.map((c) => ({ chatId: c.id, userId: c.createdById! })) });
    for (const host of created) {
      const hosted = events.filter((e) => e.hostId === host.id).length;
      if (hosted) await tx.reputation.update({ where: { userId: host.id }, data: { eventsHosted: hosted } });
    }
    return { users: created.length, events: events.length };
  });
}
