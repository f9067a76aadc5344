/**
 * The pause monitor's allocation figure (bench/lib/pauses.ts), which the unicast table divides into
 * "server alloc KiB/req": it must count what is allocated across collections, not only what is
 * still there at the end.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allocatedBetween, PauseMonitor } from '../bench/lib/pauses.js';

const MiB = 1024 * 1024;
const heap = (usedHeapSize: number) => ({ heapStatistics: { usedHeapSize } });

describe('pause monitor: bytes allocated in a window', () => {
  it('adds what each collection found beyond what the one before left', () => {
    // 10 at the start; a collection at 30 leaves 12; one at 40 leaves 15; 20 at the end.
    const collections = [
      { beforeGC: heap(30), afterGC: heap(12) },
      { beforeGC: heap(40), afterGC: heap(15) },
    ];
    assert.equal(allocatedBetween(10, collections, 20), 20 + 28 + 5);
    assert.equal(allocatedBetween(10, [], 14), 4);
  });

  it('counts garbage freed by collections inside the window', async () => {
    const monitor = new PauseMonitor();
    monitor.start();
    // 64 MiB of short-lived arrays: far more than the young generation, so several scavenges free it.
    let kept = 0;
    for (let i = 0; i < 64 * 16; i++) {
      kept += new Array(8192).fill(i).length;
      // Turns of the event loop, as in a server, so the observer sees the collections too.
      if (i % 64 === 0) await new Promise(setImmediate);
    }
    const figures = monitor.stop();
    assert.equal(kept, 64 * 16 * 8192);
    assert.ok(figures.gcCount > 0, 'collections ran in the window');
    assert.ok(figures.allocatedBytes >= 60 * MiB, `counted ${figures.allocatedBytes} bytes, allocated 64 MiB`);
    assert.ok(figures.allocatedBytes < 200 * MiB, `counted ${figures.allocatedBytes} bytes, allocated 64 MiB`);
  });
});
