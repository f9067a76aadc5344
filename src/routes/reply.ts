/** What an emitting route answers: the seed's two fields, and what the emitter's report says of its one delivery. */
import type { SuccessReply } from '../api/common.js';
import type { DeliveryReport } from '../emitter.js';

/** The reply to a call that sent one delivery: its sockets, its users' stream positions, and whether the count is partial. */
export function successReply(report: DeliveryReport): SuccessReply {
  const positions = report.items[0]?.positions;
  return {
    success: true,
    message: 'SUCCESS',
    sockets: report.sockets,
    ...(positions !== undefined && { positions }),
    ...(report.partial && { partial: true }),
    ...(report.unconfirmed && { unconfirmed: true }),
  };
}
