// The Dials page's sampler: one worker thread (sampler-worker.ts) that loads a trained model once
// and answers one request at a time, off the request thread.

import { Worker } from 'node:worker_threads';
import pLimit from 'p-limit';
import type { DialRequest } from './sampler-worker.js';
import { settings } from '../util/settings.js';

/** The sampler worker: requests queue and run one at a time, off the request thread. */
export class Dials {
  private worker: Worker | null = null;
  private readonly queue = pLimit(1);
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: { png: Uint8Array; ms: number }) => void; reject: (e: Error) => void }>();

  constructor(private readonly log: (m: string) => void) {}

  private start(): Worker {
    if (this.worker) return this.worker;
    // Compiled (dist/), the worker is plain JavaScript; from source it registers the TypeScript loader first.
    const entry = import.meta.url.endsWith('.ts') ? './sampler-worker-boot.mjs' : './sampler-worker.js';
    const w = new Worker(new URL(entry, import.meta.url), { workerData: { settings: settings() } });
    w.on('message', (m: { id: number; png?: Uint8Array; ms?: number; error?: string }) => {
      const p = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve({ png: m.png!, ms: m.ms! });
    });
    w.on('error', (err) => {
      this.log(`sampler worker: ${err.message}`);
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
      this.worker = null;
    });
    this.worker = w;
    return w;
  }

  sample(req: Omit<DialRequest, 'id'>): Promise<{ png: Uint8Array; ms: number }> {
    return this.queue(
      () =>
        new Promise((resolve, reject) => {
          const id = this.nextId++;
          this.waiting.set(id, { resolve, reject });
          this.start().postMessage({ ...req, id });
        }),
    );
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}
