// Runs the fake VLM server in a process of its own (for benchmarks): prints its URL, serves
// until killed. Usage: node --import tsx test/fake-vlm-main.ts '{"latencyMs": 40, "maxConcurrent": 8}'
import { startFakeVlm } from './fake-vlm-server.ts';

const server = await startFakeVlm(JSON.parse(process.argv[2] ?? '{}'));
console.log(server.url);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
