import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { Validator } from '@seriousme/openapi-schema-validator';
import { EmitConversation, EmitMessage } from '../src/api/conversations.js';
import { fail } from '../src/errors.js';
import { registerOpenApi } from '../src/openapi.js';
import { startGateway, type TestGateway } from './support/gateway.js';
import { statusOf } from './support/http.js';

type Doc = { openapi: string; paths: Record<string, Record<string, any>>; servers: { url: string }[]; security: unknown };

async function validate(document: unknown): Promise<void> {
  const result = await new Validator().validate(document as Parameters<Validator["validate"]>[0]);
  assert.equal(result.valid, true, `not a valid OpenAPI document: ${JSON.stringify(result.errors, null, 2)}`);
}

const operations = (doc: Doc) => Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));

describe('GET /openapi.json', () => {
  let gw: TestGateway;
  let doc: Doc;
  before(async () => {
    gw = await startGateway();
    const reply = await gw.request('GET', '/openapi.json', undefined, { 'x-api-key': '' });
    assert.equal(reply.status, 200, 'the description is public');
    doc = reply.body;
  });
  after(() => gw.close());

  it('is a valid OpenAPI 3.1 document, and names the gateway that served it', async () => {
    assert.equal(doc.openapi, '3.1.0');
    await validate(doc);
    assert.deepEqual(doc.servers.map((s) => s.url), [gw.url]);
  });

  it('covers every route, each under its own method only (no 405 helpers)', () => {
    const expected = [
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
      'POST /emit/{userId}/{emitTo}',
      'POST /emit/{emitTo}',
      'POST /lead-finder/{event}',
      'GET /stats',
      'POST /console/token',
    ];
    // The conversation routes arrive with the store; once registered they must be documented too.
    const app = gw.gateway.app;
    if (app.hasRoute({ method: 'GET', url: '/conversations/:channel/emit/message/:messageID' })) expected.push('GET /conversations/{channel}/emit/message/{messageID}');
    if (app.hasRoute({ method: 'GET', url: '/conversations/:channel/emit/conversation/:convoID/:isNew' })) {
      expected.push('GET /conversations/{channel}/emit/conversation/{convoID}/{isNew}');
    }
    assert.deepEqual(operations(doc).sort(), expected.sort());
    const ids = Object.values(doc.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
    assert.ok(ids.every((id) => typeof id === 'string'), 'every operation has an operationId (SDK method names)');
  });

  it('asks for the API key everywhere but the probes', () => {
    assert.deepEqual(doc.security, [{ apiKey: [] }]);
    assert.deepEqual(doc.paths['/healthz']!.get.security, []);
    assert.deepEqual(doc.paths['/readyz']!.get.security, []);
    assert.equal(doc.paths['/emit/{emitTo}']!.post.security, undefined, 'inherits the key requirement');
    assert.deepEqual(doc.paths['/metrics']!.get.security, [{ apiKey: [] }, { bearer: [] }]);
  });

  it("shows the seed's examples", () => {
    const toUser = doc.paths['/emit/{userId}/{emitTo}']!.post;
    assert.equal(toUser.requestBody.content['application/json'].example.title, 'New Lead');
    assert.deepEqual(
      toUser.parameters.map((p: any) => [p.name, p.example]),
      [['userId', '64user123abc'], ['emitTo', 'notification']],
    );
    const toUsers = doc.paths['/emit/{emitTo}']!.post.requestBody.content['application/json'];
    assert.deepEqual(toUsers.example.userIds, ['64user1', '64user2', '64user3']);
    const scraper = doc.paths['/lead-finder/{event}']!.post.requestBody.content['application/json'];
    assert.equal(scraper.example.payload.keyword, 'plumber near me');
    assert.deepEqual(doc.paths['/emit/{emitTo}']!.post.responses['200'].content['application/json'].example, { success: true, message: 'SUCCESS', sockets: 2 });
  });

  it('keeps the validation sentences (x-error) as schema extensions', () => {
    const param = doc.paths['/emit/{userId}/{emitTo}']!.post.parameters.find((p: any) => p.name === 'userId');
    assert.match(param.schema['x-error'], /without whitespace/);
  });
});

describe('OpenAPI of the conversation routes', () => {
  it('documents their schemas validly, with the seed examples', async () => {
    // The routes themselves come with the store; their schemas already define the API.
    const app = Fastify({ ajv: { customOptions: { keywords: ['x-error'] } } });
    await registerOpenApi(app);
    const unavailable = async () => {
      throw fail('SERVICE_UNAVAILABLE');
    };
    app.get('/conversations/:channel/emit/message/:messageID', { schema: EmitMessage }, unavailable);
    app.get('/conversations/:channel/emit/conversation/:convoID/:isNew', { schema: EmitConversation }, unavailable);
    await app.ready();
    const doc = app.swagger() as unknown as Doc;
    await validate(doc);
    const message = doc.paths['/conversations/{channel}/emit/message/{messageID}']!.get;
    assert.deepEqual(
      message.parameters.map((p: any) => [p.name, p.example]),
      [['channel', 'prospect'], ['messageID', '64abc123def456789']],
    );
    const convo = doc.paths['/conversations/{channel}/emit/conversation/{convoID}/{isNew}']!.get;
    assert.deepEqual(convo.parameters.map((p: any) => p.example), ['prospect', '64conv123', 'new']);
    await app.close();
  });
});

describe('GET /docs', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('serves Swagger UI with every asset from this gateway (no CDN)', async () => {
    const page = await fetch(`${gw.url}/docs/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    const links = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(links.length >= 3, 'the page loads scripts and styles');
    for (const link of links) {
      const url = new URL(link, `${gw.url}/docs/`);
      assert.equal(url.origin, gw.url, `${link} is served by the gateway`);
      assert.equal(await statusOf(url), 200, `${link} loads`);
    }
    const initializer = await (await fetch(`${gw.url}/docs/static/swagger-initializer.js`)).text();
    assert.match(initializer, /validatorUrl: null/, "Swagger UI does not send the document to swagger.io's online validator");
  });
});
