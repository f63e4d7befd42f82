// A real single-node Slurm cluster for the tests, from Debian's slurm-wlm and munge: munged on its
// own socket and key, slurmctld and slurmd with a configuration written into a temporary folder,
// ports of their own. Everything lives in that folder; stop() ends the daemons by their pid files.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export interface SlurmCluster {
  dir: string;
  env: Record<string, string>;
  /** Runs a Slurm client command (sbatch, squeue, scontrol, scancel) against this cluster. */
  run(cmd: string, args: string[], opts?: { cwd?: string; env?: Record<string, string> }): string;
  stop(): Promise<void>;
}

/** Why a cluster cannot start here, or null when it can. */
export function slurmUnavailable(): string | null {
  if (os.platform() !== 'linux') return 'Slurm runs on Linux only';
  if (process.getuid?.() !== 0) return 'the single-node cluster runs its daemons as root (SlurmUser=root); run the tests as root';
  for (const bin of ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel'])
    if (
      spawnSync('sh', ['-c', `command -v ${bin}`], {
        stdio: 'ignore',
        env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` },
      }).status !== 0
    )
      return `${bin} is not installed (apt-get install slurm-wlm munge)`;
  return null;
}

export async function startSlurm(dir: string): Promise<SlurmCluster> {
  const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
  const host = os.hostname().split('.')[0]!;
  await fs.mkdir(path.join(dir, 'state'), { recursive: true });
  await fs.mkdir(path.join(dir, 'spool'), { recursive: true });
  const key = path.join(dir, 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  const sock = path.join(dir, 'munge.sock');
  execFileSync(
    'munged',
    [
      '--force',
      `--key-file=${key}`,
      `--socket=${sock}`,
      `--log-file=${dir}/munged.log`,
      `--pid-file=${dir}/munged.pid`,
      `--seed-file=${dir}/munged.seed`,
    ],
    { env: { ...process.env, PATH } },
  );
  const port = 20000 + (process.pid % 20000);
  const conf = path.join(dir, 'slurm.conf');
  writeFileSync(
    conf,
    [
      'ClusterName=miro-test',
      `SlurmctldHost=${host}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      `AuthInfo=socket=${sock}`,
      'CredType=cred/munge',
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'MpiDefault=none',
      'ReturnToService=2',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/none',
      'MinJobAge=600',
      `NodeName=${host} CPUs=${os.availableParallelism()} RealMemory=4000 State=UNKNOWN`,
      `PartitionName=main Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4`,
      '',
    ].join('\n'),
  );
  const env = { SLURM_CONF: conf, PATH };
  const daemonEnv = { ...process.env, ...env };
  execFileSync('slurmctld', ['-c'], { env: daemonEnv });
  execFileSync('slurmd', ['-c'], { env: daemonEnv });
  const run = (cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
    execFileSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...env, ...opts.env }, encoding: 'utf8' });
  const stop = async () => {
    for (const d of ['slurmd', 'slurmctld', 'munged']) {
      const pidFile = path.join(dir, `${d}.pid`);
      if (!existsSync(pidFile)) continue;
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 500));
  };
  // Ready when the node is idle.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const state = spawnSync('sinfo', ['-h', '-o', '%T'], { env: daemonEnv, encoding: 'utf8' }).stdout.trim();
    if (state === 'idle') break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the Slurm node did not become idle (sinfo: ${state}); see ${dir}/slurmctld.log and slurmd.log`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { dir, env, run, stop };
}
