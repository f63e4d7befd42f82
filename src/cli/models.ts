// `miro models fetch CONFIG...`: model files by repository and revision, sha256-verified.

import type { Command } from 'commander';

export default function register(program: Command): void {
  const models = program.command('models').description('model files for reward-model and encoder configs');
  models
    .command('fetch')
    .description('download the files a config names from the Hugging Face Hub (HF_ENDPOINT, HF_TOKEN) and verify their sha256')
    .argument('<configs...>', 'configs/scorers/NAME.yaml or configs/encoders/NAME.yaml')
    .option('--require-pins', 'refuse files whose sha256 the config does not pin')
    .action(async (configs: string[], o: { requirePins?: boolean }) => {
      const { fetchModel } = await import('../onnx/fetch.js');
      for (const c of configs) {
        const files = await fetchModel(c, (m) => console.error(m), { requirePins: o.requirePins });
        for (const f of files)
          console.log(`${f.status.padEnd(10)} ${f.sha256.slice(0, 16)}  ${f.bytes.toString().padStart(12)}  ${f.file}`);
      }
    });
  models.exitOverride();
}
