/** The per-recipient payload builders, apart from any I/O. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config.js';
import {
  deriveImage,
  deriveTitle,
  messagePayloads as messageFanout,
  conversationPayloads as conversationFanout,
  toIsoDate,
  unreadCountOf,
  type Fanout,
} from '../src/conversations/payloads.js';
import { privacy, privacyProjection } from '../src/conversations/privacy.js';
import type { CommunicationDocument, ContactDocument, ConversationDocument, UserDocument } from '../src/store/store.js';

const defaults = loadConfig({ INTERNAL_API_KEY: 'k', JWT_SECRET: 's', SCRAPER_API_KEY: 'w' });
const project = privacyProjection(defaults.privateFields);
const rules = privacy(defaults.privateFields);

/** Every recipient's whole payload, as clients receive it (the emitter's toEach). */
const expand = (fanout: Fanout) => fanout.recipients.map(({ userId, fields }) => ({ userId, payload: { ...fanout.common, ...fields } }));
const messagePayloads = (...args: Parameters<typeof messageFanout>) => expand(messageFanout(...args));
const conversationPayloads = (...args: Parameters<typeof conversationFanout>) => expand(conversationFanout(...args));

const alice: UserDocument = {
  _id: 'u1',
  name: 'Alice',
  email: 'a@example.com',
  password: 'bcrypt$1',
  salt: 's',
  tokens: ['t'],
  profile: { apiSecret: 'x', bio: 'hi' },
};
const bob: UserDocument = { _id: 'u2', name: 'Bob', passwordHash: 'bcrypt$2', reset_token: 'r' };
const contact: ContactDocument = { _id: 'c1', name: 'John Doe', phone: '+1 555', email: 'john@example.net', image: 'https://img/john.jpg', token: 'crm' };
const conversation = (fields: Partial<ConversationDocument> = {}): ConversationDocument => ({ _id: 'conv1', users: ['u1', 'u2'], contact_id: 'c1', ...fields });

describe('privacyProjection', () => {
  it('drops private fields at any depth, also names ending with one, ignoring case, _ and -', () => {
    const projected = project({ ...alice, nested: [{ Password: 1, keep: 2 }], reset_token: 'r', AccessToken: 'a', 'api-key': 'k', hashtag: 'keeps' });
    assert.deepEqual(projected, { _id: 'u1', name: 'Alice', email: 'a@example.com', profile: { bio: 'hi' }, nested: [{ keep: 2 }], hashtag: 'keeps' });
    assert.deepEqual(project(bob), { _id: 'u2', name: 'Bob' });
  });

  it('copies: the input is unchanged, and a "__proto__" key stays plain data', () => {
    const input = JSON.parse('{"a": {"password": 1}, "__proto__": {"polluted": true}}');
    const output = project(input) as Record<string, unknown>;
    assert.deepEqual(input.a, { password: 1 });
    assert.equal(Object.getPrototypeOf(output), Object.prototype);
    assert.equal((output as { polluted?: boolean }).polluted, undefined);
  });

  it('follows a configured list', () => {
    assert.deepEqual(privacyProjection(['ssn'])({ ssn: 1, password: 2 }), { password: 2 });
  });
});

describe('derivations', () => {
  it('title: explicit, else contact name, else phone, else email, else empty', () => {
    assert.equal(deriveTitle(conversation({ title: 'VIP' }), contact), 'VIP');
    assert.equal(deriveTitle(conversation(), contact), 'John Doe');
    assert.equal(deriveTitle(conversation({ title: '  ' }), { _id: 'c', name: '', phone: '+1 646' }), '+1 646');
    assert.equal(deriveTitle(conversation({ title: null }), { _id: 'c', email: 'e@x' }), 'e@x');
    assert.equal(deriveTitle(conversation(), undefined), '');
  });

  it('image: explicit, else [contact.image], else []; an empty array counts as unset', () => {
    assert.deepEqual(deriveImage(conversation({ image: ['https://img/a.png'] }), contact), ['https://img/a.png']);
    assert.deepEqual(deriveImage(conversation(), contact), ['https://img/john.jpg']);
    assert.deepEqual(deriveImage(conversation({ image: [] }), contact), ['https://img/john.jpg']);
    assert.deepEqual(deriveImage(conversation({ image: null }), { _id: 'c', name: 'No Photo' }), []);
    assert.deepEqual(deriveImage(conversation(), undefined), []);
  });

  it('unread count: the user own entry, 0 when missing or when there is no map', () => {
    assert.equal(unreadCountOf(conversation({ unread_count: { u1: 3 } }), 'u1'), 3);
    assert.equal(unreadCountOf(conversation({ unread_count: { u1: 3 } }), 'u2'), 0);
    assert.equal(unreadCountOf(conversation(), 'u1'), 0);
    assert.equal(unreadCountOf(conversation({ unread_count: { toString: 'x' } as never }), 'toString'), 0);
    assert.equal(unreadCountOf(conversation({ unread_count: {} }), 'constructor'), 0);
  });

  it('dates become ISO strings; other values stay', () => {
    assert.equal(toIsoDate('2025-10-13T12:30:00+02:00'), '2025-10-13T10:30:00.000Z');
    assert.equal(toIsoDate(1760351700000), '2025-10-13T10:35:00.000Z');
    assert.equal(toIsoDate('not a date'), 'not a date');
  });
});

describe('messagePayloads', () => {
  const outgoing: CommunicationDocument = {
    _id: 'm1',
    type: 'OUTGOING',
    data: 'Hi',
    sent_by: 'u1',
    conversation_id: ['conv1', 'conv2'],
    createdAt: '2025-10-13T12:30:00+02:00',
    client_secret: 'x',
  };
  const conv2 = conversation({ _id: 'conv2', users: ['u1', 'u3', 'u3'] });

  it('gives each participant of each conversation its own payload, with that conversation id', () => {
    const payloads = messagePayloads({ message: outgoing, sender: alice, conversations: [conversation(), conv2] }, rules);
    assert.deepEqual(
      payloads.map(({ userId, payload }) => [userId, payload.conversation_id, payload.is_sender]),
      [
        ['u1', 'conv1', true],
        ['u2', 'conv1', false],
        ['u1', 'conv2', true],
        ['u3', 'conv2', false],
      ],
    );
    const first = payloads[0]!.payload;
    assert.equal(first.createdAt, '2025-10-13T10:30:00.000Z');
    assert.equal(first.data, 'Hi');
    assert.equal(first.type, 'OUTGOING');
    assert.deepEqual(first.sent_by, { _id: 'u1', name: 'Alice', email: 'a@example.com', profile: { bio: 'hi' } });
    assert.equal('client_secret' in first, false);
  });

  it('an INCOMING message is sent by a contact: nobody is the sender, even a user with the same id', () => {
    const incoming: CommunicationDocument = { ...outgoing, type: 'INCOMING', sent_by: 'u2', conversation_id: ['conv1'] };
    const payloads = messagePayloads({ message: incoming, sender: contact, conversations: [conversation()] }, rules);
    assert.deepEqual(
      payloads.map((p) => p.payload.is_sender),
      [false, false],
    );
    assert.equal((payloads[0]!.payload.sent_by as ContactDocument).name, 'John Doe');
    assert.equal('token' in (payloads[0]!.payload.sent_by as object), false);
  });

  it('a sender that does not exist is null, as populate leaves it', () => {
    const [first] = messagePayloads({ message: outgoing, sender: undefined, conversations: [conversation()] }, rules);
    assert.equal(first!.payload.sent_by, null);
  });
});

describe('conversationPayloads', () => {
  const lastActivity: CommunicationDocument = { _id: 'm9', type: 'INCOMING', sent_by: 'c1', conversation_id: ['conv1'], data: 'Last' };

  it('populates users, contact and last activity, derives title and image, and gives each user their count', () => {
    const payloads = conversationPayloads(
      {
        conversation: conversation({ users: ['u1', 'u2', 'u-gone'], unread_count: { u1: 4 }, is_open: true, last_activity: 'm9', priority: 'high' }),
        users: new Map([
          ['u1', alice],
          ['u2', bob],
        ]),
        contact,
        lastActivity,
        isNew: true,
      },
      rules,
    );
    assert.deepEqual(
      payloads.map((p) => [p.userId, p.payload.unread_count]),
      [
        ['u1', 4],
        ['u2', 0],
        ['u-gone', 0],
      ],
    );
    const { payload } = payloads[0]!;
    assert.equal(payload.title, 'John Doe');
    assert.deepEqual(payload.image, ['https://img/john.jpg']);
    assert.deepEqual(payload.contact_id, { _id: 'c1', name: 'John Doe', phone: '+1 555', email: 'john@example.net', image: 'https://img/john.jpg' });
    assert.deepEqual(payload.users, [project(alice), project(bob)]);
    assert.deepEqual(payload.last_activity, lastActivity);
    assert.equal(payload.isNew, true);
    assert.equal(payload.is_open, true);
    assert.equal(payload.priority, 'high');
    assert.doesNotMatch(JSON.stringify(payloads), /bcrypt|password|salt|tokens|reset_token|apiSecret|"token"/);
  });

  it('keeps an explicit title and image; isNew false; references to missing documents are null', () => {
    const [only] = conversationPayloads(
      {
        conversation: conversation({ users: ['u1'], title: 'VIP', image: ['https://img/vip.png'], last_activity: 'm-gone' }),
        users: new Map(),
        contact: undefined,
        lastActivity: undefined,
        isNew: false,
      },
      rules,
    );
    assert.equal(only!.payload.title, 'VIP');
    assert.deepEqual(only!.payload.image, ['https://img/vip.png']);
    assert.equal(only!.payload.isNew, false);
    assert.equal(only!.payload.contact_id, null);
    assert.equal(only!.payload.last_activity, null);
    assert.deepEqual(only!.payload.users, []);
  });
});
