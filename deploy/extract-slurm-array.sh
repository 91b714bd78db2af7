#!/bin/bash
# dnf extract across N GPU nodes: a Slurm job array.
#
# Submit with `sbatch deploy/extract-slurm-array.sh`. Slurm runs one task per array index and sets
# SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT; `dnf extract --shard auto`
# turns them into shard (ID - MIN) of COUNT, so `--array=0-7` and `--array=1-8` both give shards
# 0..7 of 8. (An array with gaps or a step, `--array=0,3,5` or `0-15:4`, has no dense index: pass
# `--shard I/N` yourself.) Each task extracts the inputs whose relative path hashes to its shard;
# together they cover every image exactly once, with the files one plain `dnf extract` would write.
#
# IMAGES and OUT must be on a file system every node mounts (NFS, Lustre, GPFS). Temp files carry
# the node's host name, so tasks on different nodes never remove each other's files in flight. A
# task that fails can be resubmitted alone (`sbatch --array=3 ...`): it resumes, skipping finished
# outputs. The first task also submits a check that runs once all tasks have ended (afterany), on a CPU:
# --verify loads no model; it lists what is missing and exits 1 if anything is.
#SBATCH --job-name=dnf-extract
#SBATCH --array=0-7
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=12:00:00
#SBATCH --output=dnf-extract-%A_%a.log
set -euo pipefail

IMAGES=${IMAGES:-/shared/images}
OUT=${OUT:-/shared/dnf}
UNET=${UNET:-/shared/weights/lsun_bedroom.safetensors}

# The first task queues the check of the whole run (before its own work, so a failure cannot skip it).
if [ "$SLURM_ARRAY_TASK_ID" = "${SLURM_ARRAY_TASK_MIN:-0}" ]; then
  sbatch --dependency="afterany:${SLURM_ARRAY_JOB_ID}" --job-name=dnf-verify --output=dnf-verify-%j.log \
    --wrap="npx dnf extract '$IMAGES' -o '$OUT' --verify"
fi

npx dnf extract "$IMAGES" -o "$OUT" --shard auto --unet "$UNET"
