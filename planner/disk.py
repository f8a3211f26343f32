"""The VM disk a run needs: what the job downloads, keeps and writes, so a managed job never dies of a full disk."""

from __future__ import annotations

import math

from tunecost.job.job_config import JobConfig
from tunecost.planner.model.shapes import ModelShape
from tunecost.planner.model.speed import trainable_params
from tunecost.planner.quote import GB, checkpoint_gb
from tunecost.planner.spec import TrainSpec

OS_AND_PACKAGES_GB = 50.0  # the image plus the job's pip install (torch, CUDA libraries)
DISK_HEADROOM = 1.2  # logs, temp files, a checkpoint being written while two are kept


def disk_gb(spec: TrainSpec, shape: ModelShape, dataset_bytes: int = 0) -> int:
    """The OS and packages, the bf16 weights downloaded from the hub, the final save (a full model, or an adapter
    merged into one), the checkpoints the job keeps in the MOUNT_CACHED cache (`keep_checkpoints`, each the size the
    planner prices: trainable weights + optimizer state) and the dataset; times DISK_HEADROOM, in whole 10 GB."""
    weights_gb = shape.total_params() * 2 / GB
    kept = JobConfig.model_fields["keep_checkpoints"].default
    checkpoints_gb = kept * checkpoint_gb(spec, trainable_params(spec, shape))
    total = OS_AND_PACKAGES_GB + 2 * weights_gb + checkpoints_gb + dataset_bytes / GB
    return int(math.ceil(total * DISK_HEADROOM / 10) * 10)
