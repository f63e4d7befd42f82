import { fetchModel } from '../scorers/onnx/fetch.js';
import { MiroError } from '../errors.js';

export default async function models(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const requirePins = rest.includes('--require-pins');
  const configs = rest.filter((a) => a !== '--require-pins');
  if (verb !== 'fetch' || configs.length === 0)
    throw new MiroError(
      'usage: miro models fetch [--require-pins] configs/scorers/NAME.yaml [...]  (HF_ENDPOINT and HF_TOKEN are honoured)',
    );
  for (const c of configs) {
    const files = await fetchModel(c, (m) => console.error(m), { requirePins });
    for (const f of files) console.log(`${f.status.padEnd(10)} ${f.sha256.slice(0, 16)}  ${f.bytes.toString().padStart(12)}  ${f.file}`);
  }
  return 0;
}
