#!/bin/bash
# Submits a pipeline to Slurm: an array of N map tasks, then one global job that starts when every
# task has ended (afterany: a task cancelled and requeued does not strand it, and whatever a task
# failed to commit the global job computes). Prints the two job ids.
#
#   deploy/slurm/submit.sh pipelines/miro.yaml 64            # 64 map tasks
#   MIRO_RUN_ARGS="--data-root /shared/miro" deploy/slurm/submit.sh pipelines/miro.yaml 64
#
# Extra sbatch options (partition, account, GPUs) go in SBATCH_MAP_ARGS and SBATCH_GLOBAL_ARGS.
# Every task and the global job must see the same data root on a shared POSIX file system.
set -euo pipefail
PIPELINE=${1:?usage: submit.sh PIPELINE.yaml TASKS}
TASKS=${2:?usage: submit.sh PIPELINE.yaml TASKS}
HERE=$(cd "$(dirname "$0")" && pwd)
export MIRO_PIPELINE=$PIPELINE MIRO_HOME=${MIRO_HOME:-$(cd "$HERE/../.." && pwd)}
# shellcheck disable=SC2086
MAP=$(sbatch --parsable --array=0-$((TASKS - 1)) --export=ALL ${SBATCH_MAP_ARGS:-} "$HERE/map.sbatch")
# shellcheck disable=SC2086
GLOBAL=$(sbatch --parsable --dependency=afterany:"$MAP" --export=ALL ${SBATCH_GLOBAL_ARGS:-} "$HERE/global.sbatch")
echo "$MAP $GLOBAL"
