// The Rewards page: each reward's distribution, bins and targets.

import { Hono } from 'hono';
import { rewardSummaries } from '../rewards.js';
import type { ServeContext } from '../context.js';

export function rewardsRoutes({ pipeline, conn, dataset, db }: ServeContext): Hono {
  const app = new Hono();
  app.get('/api/rewards', async (c) => c.json(await db(() => rewardSummaries(conn, pipeline, dataset))));
  return app;
}
