/**
 * A WORKERS worker routes each emit by its copy of which workers hold which users
 * (src/presence/placements.ts): a user listed on a worker that no longer holds them costs a wasted
 * question, one missing from a worker that holds them loses the event there.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Placements } from '../src/presence/placements.js';

const holding = (placements: Placements, userIds: string[]) => Object.fromEntries(placements.nodesHolding(userIds));

describe("a worker's copy of the placements", () => {
  it('lists each user on every worker holding them, and forgets a worker that let go', () => {
    const placements = new Placements();
    placements.place('ann', '1', true);
    placements.place('ann', '2', true);
    placements.place('bob', '2', true);
    placements.place('bob', '2', true);
    assert.deepEqual(holding(placements, ['ann', 'bob', 'cy']), { '1': ['ann'], '2': ['ann', 'bob'] });
    placements.place('ann', '1', false);
    placements.place('cy', '1', false);
    assert.deepEqual(holding(placements, ['ann', 'bob', 'cy']), { '2': ['ann', 'bob'] });
  });

  it('drops every user of a worker that is gone, and keeps their other workers', () => {
    const placements = new Placements();
    placements.place('ann', '1', true);
    placements.place('ann', '2', true);
    placements.place('bob', '2', true);
    placements.dropNode('2');
    assert.deepEqual(holding(placements, ['ann', 'bob']), { '1': ['ann'] });
  });

  it('is replaced whole by the primary’s copy, whatever it held before', () => {
    const placements = new Placements();
    placements.place('stale', '3', true);
    placements.replace([
      ['1', ['ann', 'bob']],
      ['2', ['bob']],
    ]);
    assert.deepEqual(holding(placements, ['ann', 'bob', 'stale']), { '1': ['ann', 'bob'], '2': ['bob'] });
  });
});
