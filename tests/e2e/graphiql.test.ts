// GraphiQL end to end in real headless Chromium: the page and everything it loads come from
// the API itself, a query runs with the token typed into the headers editor, and an
// eventChanged subscription started in the page over graphql-ws, signed in through the same
// header, receives an event the test creates over HTTP.
//
// The screenshot goes to docs/graphiql.png when that file is missing or UPDATE_SCREENSHOTS=1
// (so a test run doesn't dirty the tree), otherwise to the temp directory.
// Without Chromium (and no way to install it) the suite says why and skips.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureChromium, launchBrowser } from '../helpers/browser.ts';
import type { Browser } from '../helpers/browser.ts';
import { createUser } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { BERLIN, createEvent } from '../helpers/events.ts';
import { ROOT } from '../helpers/process.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

const chromium = await ensureChromium();
if ('missing' in chromium) console.warn(`[graphiql e2e] skipped: ${chromium.missing}`);

const QUERY_EDITOR = '.graphiql-query-editor .CodeMirror';
// Variables and headers share one pane; the one shown lacks .hidden.
const TOOL_EDITOR = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
const RESULT = '.graphiql-response .CodeMirror';
const RUN = '.graphiql-execute-button';

const SCREENSHOT = join(ROOT, 'docs', 'graphiql.png');

interface CodeMirrorElement {
  CodeMirror: { setValue(value: string): void; getValue(): string };
}

// GraphiQL's editors are CodeMirror 5 instances; setting their value fires the same change
// events typing does, without the editor's auto-closing brackets getting in the way.
const setEditor = (page: Page, selector: string, value: string) =>
  page.locator(selector).evaluate((el, v) => (el as unknown as CodeMirrorElement).CodeMirror.setValue(v), value);
/** Puts an operation into the query editor and waits until GraphiQL has taken it in (the tab is named after it). */
async function setOperation(page: Page, name: string, source: string) {
  await setEditor(page, QUERY_EDITOR, source);
  await expect
    .poll(async () => (await page.locator('.graphiql-tabs').innerText()).trim(), { timeout: 10_000 })
    .toBe(name);
}
const resultText = (page: Page) =>
  page.locator(RESULT).evaluate((el) => (el as unknown as CodeMirrorElement).CodeMirror.getValue());

describe.skipIf('missing' in chromium)('GraphiQL in headless Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let user: TestUser;
  const pageProblems: string[] = [];
  const foreignRequests: string[] = [];
  const wsSent: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    // A fresh database per server, so a readable name can't collide.
    user = await createUser(server, { username: 'ada.novak', fullName: 'Ada Novak' });
    browser = await launchBrowser((chromium as { path: string }).path);
    page = await browser.context.newPage();
    page.on('pageerror', (error) => pageProblems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') pageProblems.push(`console: ${message.text()}`);
    });
    page.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith(`${server.url}/`) && !url.startsWith('data:')) foreignRequests.push(url);
    });
    page.on('websocket', (ws) => {
      if (!ws.url().startsWith(server.wsUrl)) foreignRequests.push(ws.url());
      ws.on('framesent', (frame) => wsSent.push(String(frame.payload)));
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads from the API alone and runs a query with the token from the headers editor', async () => {
    const response = await page.goto(server.graphqlUrl);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-type']).toMatch(/^text\/html/);
    await page.locator(QUERY_EDITOR).waitFor({ timeout: 30_000 });

    await page.locator('.graphiql-editor-tools button', { hasText: 'Headers' }).click();
    await setEditor(page, TOOL_EDITOR, JSON.stringify({ Authorization: `Bearer ${user.accessToken}` }, null, 2));
    await setOperation(page, 'Me', 'query Me {\n  me {\n    id\n    username\n  }\n}\n');
    await page.locator(RUN).click();

    await expect.poll(() => resultText(page), { timeout: 15_000 }).toContain(user.username);
    expect(JSON.parse(await resultText(page))).toEqual({ data: { me: { id: user.id, username: user.username } } });
  });

  it('runs an eventChanged subscription over graphql-ws, signed in through the same header', async () => {
    await setOperation(
      page,
      'LiveMap',
      [
        'subscription LiveMap {',
        '  eventChanged(bounds: { south: 52.3, west: 13.1, north: 52.7, east: 13.7 }) {',
        '    kind',
        '    version',
        '    event { id title isPublic }',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    await page.locator(RUN).click();

    // The socket was opened with the header editor's token as connectionParams.authorization.
    await expect.poll(() => wsSent.some((f) => f.includes('"subscribe"')), { timeout: 15_000 }).toBe(true);
    const init = JSON.parse(wsSent.find((f) => f.includes('"connection_init"'))!) as {
      payload?: Record<string, unknown>;
    };
    expect(init.payload?.authorization).toBe(`Bearer ${user.accessToken}`);
    await server.deps.pubsub.ping();

    // A private event: only a subscriber signed in as its host may see it, so its arrival
    // shows that the WebSocket carried the login. Retried in case the subscription was
    // still being set up; each attempt is a new event with its own title.
    let arrived = '';
    for (let attempt = 1; attempt <= 4 && !arrived; attempt++) {
      const title = `Picnic at Tempelhofer Feld #${attempt}`;
      await createEvent(server, user, { ...BERLIN, title, isPublic: false });
      try {
        await expect.poll(() => resultText(page), { timeout: 5_000 }).toContain(title);
        arrived = title;
      } catch {
        // not this one; try again
      }
    }
    expect(arrived).not.toBe('');
    const payload = JSON.parse(await resultText(page)) as {
      data: { eventChanged: { kind: string; event: { title: string; isPublic: boolean } } };
    };
    expect(payload.data.eventChanged).toMatchObject({ kind: 'CREATED', event: { title: arrived, isPublic: false } });

    await page.locator(RUN).click(); // stops the subscription
  });

  it('shows a query result (the README screenshot), with nothing loaded from elsewhere', async () => {
    await setOperation(
      page,
      'EventsOnTheMap',
      [
        '# The live map: the viewport first, then eventChanged',
        '# with the same bounds for what changes.',
        'query EventsOnTheMap {',
        '  eventsInBounds(',
        '    bounds: { south: 52.3, west: 13.1, north: 52.7, east: 13.7 }',
        '  ) {',
        '    edges {',
        '      node {',
        '        title',
        '        startsAt',
        '        attendeeCount',
        '        host { username }',
        '      }',
        '    }',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    await page.locator(RUN).click();
    await expect.poll(() => resultText(page), { timeout: 15_000 }).toContain('eventsInBounds');
    const result = JSON.parse(await resultText(page)) as {
      data: { eventsInBounds: { edges: Array<{ node: { title: string } }> } };
    };
    expect(result.data.eventsInBounds.edges.map((e) => e.node.title)).toContain('Picnic at Tempelhofer Feld #1');

    const target =
      process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(SCREENSHOT)
        ? SCREENSHOT
        : join(tmpdir(), 'pinit-graphiql.png');
    await mkdir(join(target, '..'), { recursive: true });
    const png = await page.screenshot({ path: target });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    console.info(`[graphiql e2e] screenshot: ${target}`);

    expect(foreignRequests).toEqual([]);
    expect(pageProblems).toEqual([]);
  });
});
