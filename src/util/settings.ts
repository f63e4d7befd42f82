// What the environment configures, as one typed value. The CLI reads the environment once
// (cli/environment.ts) and calls configure(); every layer below reads settings(), never
// process.env, so a library caller or a test sets them in one place. A worker thread is handed the
// value whole (serve/server.ts), as a child run is handed its run options.

export interface Settings {
  /** MIRO_DATA_ROOT: where pipelines write; `--data-root` wins over it, it wins over settings.data_root. */
  dataRoot: string | undefined;
  /** MIRO_MODELS: the model cache (`miro models fetch` writes there, scorers read there). */
  modelCache: string | undefined;
  /** MIRO_ORT_THREADS: ONNX Runtime intra-op threads per session. */
  ortThreads: number;
  /** MIRO_DUCKDB_THREADS: DuckDB worker threads. */
  duckdbThreads: number;
  /** MIRO_TF_BACKEND: the TensorFlow.js backend to insist on; unset tries them in order. */
  tfBackend: string | undefined;
  /** MIRO_PYTHON: the Python that runs `engine: torch` when a node names none. */
  python: string;
  /** HF_ENDPOINT: the Hugging Face Hub to fetch from. */
  hubEndpoint: string;
  /** HF_TOKEN: its token, for gated repositories. */
  hubToken: string | undefined;
  /** CI: plain progress lines even on a terminal. */
  plainProgress: boolean;
  /**
   * The environment as the CLI read it: what child processes (the torch engine) inherit, where a
   * Slurm allocation is described (SLURM_*), and the secrets a config names (`api_key_env`).
   */
  environment: Readonly<Record<string, string | undefined>>;
}

const DEFAULTS: Settings = Object.freeze({
  dataRoot: undefined,
  modelCache: undefined,
  ortThreads: 2,
  duckdbThreads: 2,
  tfBackend: undefined,
  python: 'python3',
  hubEndpoint: 'https://huggingface.co',
  hubToken: undefined,
  plainProgress: false,
  environment: Object.freeze({}),
});

let current: Settings = DEFAULTS;

export function settings(): Settings {
  return current;
}

/** Replaces the given settings (the rest keep their values); the CLI calls it once, at start. */
export function configure(changes: Partial<Settings>): void {
  current = Object.freeze({ ...current, ...changes });
}
