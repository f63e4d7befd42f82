// The one place the environment is read: at start, into util/settings.ts. The help text below lists
// what each variable sets.

import { configure, type Settings } from '../util/settings.js';

export const ENVIRONMENT_HELP = `
Environment:
  MIRO_DATA_ROOT        where pipelines write (default: settings.data_root, else data/)
  MIRO_TF_BACKEND       TensorFlow.js backend: tensorflow-gpu, webgpu, tensorflow, wasm, cpu
  MIRO_MODELS           model cache for \`miro models fetch\` (default ~/.cache/miro/models)
  MIRO_ORT_THREADS      ONNX Runtime threads per session (default 2)
  MIRO_DUCKDB_THREADS   DuckDB threads (default: 2)
  MIRO_PYTHON           the Python for \`engine: torch\` when a node names none (default python3)
  MIRO_LOCK_LEASE       seconds after which another host's silent lock is taken over (default 600)
  MIRO_WORLD            the world of a Kubernetes Indexed Job (with JOB_COMPLETION_INDEX)
  HF_ENDPOINT, HF_TOKEN the Hugging Face Hub endpoint and token for \`miro models fetch\`
  CI                    plain progress lines even on a terminal`;

function positive(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = Number(env[name]);
  return env[name] !== undefined && Number.isFinite(v) && v > 0 ? v : undefined;
}

export function settingsFromEnvironment(env: NodeJS.ProcessEnv): Partial<Settings> {
  return {
    dataRoot: env.MIRO_DATA_ROOT || undefined,
    modelCache: env.MIRO_MODELS || undefined,
    ortThreads: positive(env, 'MIRO_ORT_THREADS') ?? 2,
    duckdbThreads: Math.floor(positive(env, 'MIRO_DUCKDB_THREADS') ?? 2),
    tfBackend: env.MIRO_TF_BACKEND || undefined,
    python: env.MIRO_PYTHON || 'python3',
    hubEndpoint: env.HF_ENDPOINT || 'https://huggingface.co',
    hubToken: env.HF_TOKEN || undefined,
    plainProgress: Boolean(env.CI),
    environment: { ...env },
  };
}

/** Reads the environment into the settings, once per process. */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  configure(settingsFromEnvironment(env));
}

/** A positive number of seconds from an environment variable, or undefined when unset or not one. */
export function environmentSeconds(name: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  return positive(env, name);
}
