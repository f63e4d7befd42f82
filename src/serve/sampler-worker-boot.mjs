// A worker thread starts without the TypeScript loader the main thread registered: register it,
// then load the sampler worker.
import { register } from 'tsx/esm/api';

register();
await import('./sampler-worker.ts');
