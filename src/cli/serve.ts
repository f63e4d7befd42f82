// `miro serve PIPELINE`: a local web server to look at the data, the run and the reward dials.

import type { Command } from 'commander';
import { int, collect } from './args.js';

export default function register(program: Command): void {
  program
    .command('serve')
    .description("browse a pipeline's images and rewards, follow its run, and sample its models with reward dials, in a browser")
    .argument('<pipeline>', 'pipeline YAML')
    .option('--port <n>', 'port (0: any free one)', int({ min: 0, max: 65535 }), 8780)
    .option('--host <address>', 'address to bind; anything but 127.0.0.1 exposes the data to the network', '127.0.0.1')
    .option('--data-root <dir>', 'where the pipeline wrote its data')
    .option('--set <key=value>', 'override a pipeline key, e.g. nodes.train_miro.with.steps=100 (repeatable; values read as YAML)', collect)
    .action(async (file: string, o: { port: number; host: string; dataRoot?: string; set?: string[] }) => {
      const { openPipeline } = await import('./pipeline.js');
      const { startServer } = await import('../serve/server.js');
      const pipeline = openPipeline(file, { dataRoot: o.dataRoot, set: o.set });
      const server = await startServer(pipeline, { port: o.port, host: o.host, log: (m) => console.error(m) });
      console.log(server.url);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
