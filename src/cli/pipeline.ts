// Loading a pipeline for a command: the YAML with its --data-root and --set, and DuckDB told where
// to spill inside that pipeline's data (store/duck.ts, setSpillDirectory).

import path from 'node:path';
import { loadPipeline, type LoadOptions, type Pipeline } from '../dag/pipeline.js';
import { setSpillDirectory } from '../store/duck.js';

export function openPipeline(file: string, opts: LoadOptions): Pipeline {
  const pipeline = loadPipeline(file, opts);
  setSpillDirectory(path.join(pipeline.settings.dataRoot, pipeline.settings.name, '_spill'));
  return pipeline;
}
