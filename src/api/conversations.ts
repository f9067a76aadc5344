/** Schemas of the conversation routes: a message, or a conversation, fanned out to its participants. */
import { Type, type Static } from 'typebox';
import { Id, SuccessReply, withExamples } from './common.js';

const Channel = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'A configured channel (CHANNELS; default `prospect`); event names derive from it.',
  'x-error': 'must be a channel name (letters, digits, _ and -)',
  examples: ['prospect'],
});

/** `GET /conversations/:channel/emit/message/:messageID`. */
export const EmitMessage = {
  summary: 'Emit a message to every participant of each of its conversations',
  tags: ['Conversations'],
  params: Type.Object({ channel: Channel, messageID: withExamples(Id, '64abc123def456789') }),
  response: { 200: SuccessReply },
};
export type EmitMessageParams = Static<typeof EmitMessage.params>;

/** `GET /conversations/:channel/emit/conversation/:convoID/:isNew`. */
export const EmitConversation = {
  summary: 'Emit a new or updated conversation to each of its users, with their own unread count',
  tags: ['Conversations'],
  params: Type.Object({
    channel: Channel,
    convoID: withExamples(Id, '64conv123'),
    isNew: Type.Union([Type.Literal('new'), Type.Literal('existing')], {
      description: '`new` or `existing`; becomes the boolean `isNew` of the event.',
      'x-error': 'must be "new" or "existing"',
      examples: ['new'],
    }),
  }),
  response: { 200: SuccessReply },
};
export type EmitConversationParams = Static<typeof EmitConversation.params>;
