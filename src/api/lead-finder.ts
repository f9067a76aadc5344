/** Schema of the lead-finder route: an event to one scraper socket. */
import { Type, type Static } from 'typebox';
import { AnyJson, EventName, Id, SuccessReply, withExamples } from './common.js';

/** `POST /lead-finder/:event`: `{ socketId, payload }`. */
export const EmitToScraper = {
  summary: 'Emit an event to one lead-finder scraper socket',
  description:
    'Sends `payload` as event `event` to the scraper socket `socketId` in the lead-finder namespace (`/v1/lead-finder` unless `LEAD_FINDER_NAMESPACE` names another); 404 when that socket is not connected.',
  tags: ['Lead finder'],
  params: Type.Object({ event: withExamples(EventName, 'scrape_task', 'health_check') }),
  body: Type.Object(
    {
      socketId: Id,
      payload: AnyJson,
    },
    {
      examples: [
        {
          socketId: 'xyz123abc',
          payload: { task_id: 'task_001', keyword: 'plumber near me', location: 'New York, NY', max_results: 50, timeout: 30000 },
        },
      ],
    },
  ),
  response: { 200: SuccessReply },
};
export type EmitToScraperBody = Static<typeof EmitToScraper.body>;
