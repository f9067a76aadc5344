/** Schema of the lead-finder route: an event to one worker socket. */
import { Type, type Static } from 'typebox';
import { AnyJson, ErrorReply, EventName, Id, SuccessReply } from './common.js';

/** `POST /lead-finder/:event`: `{ socketId, payload }`. */
export const EmitToScraper = {
  summary: 'Emit an event to one lead-finder worker socket',
  params: Type.Object({ event: EventName }),
  body: Type.Object({
    socketId: Id,
    payload: AnyJson,
  }),
  response: { 200: SuccessReply, 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 413: ErrorReply, 429: ErrorReply, 503: ErrorReply },
};
export type EmitToScraperBody = Static<typeof EmitToScraper.body>;
