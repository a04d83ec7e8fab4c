"""t2l hypernetwork: task description -> LoRA adapter (Text-to-LoRA, arXiv 2506.06105). Imports nothing of ours."""

from .adapter import Adapter, AdapterFormatError
from .checkpoint import Checkpoint, CheckpointError, init_checkpoint, load_checkpoint, save_checkpoint
from .config import HyperConfig
from .encoder import DescriptionError, SentenceTransformerEncoder, TaskEncoder, normalize_description
from .generate import adapters_from_embeddings, embed_descriptions, generate_adapters
from .inject import inject
from .lora import LoRABatch, apply_lora, delta_weight, lora_scale
from .model import HyperLoRA, count_parameters
from .targets import TargetSpec, targets_from_config, targets_from_model

__all__ = [
    "Adapter", "AdapterFormatError", "adapters_from_embeddings", "embed_descriptions", "Checkpoint", "CheckpointError", "DescriptionError", "HyperConfig",
    "HyperLoRA", "LoRABatch", "SentenceTransformerEncoder", "TargetSpec", "TaskEncoder", "apply_lora",
    "count_parameters", "delta_weight", "generate_adapters", "init_checkpoint", "inject", "load_checkpoint", "lora_scale",
    "normalize_description", "save_checkpoint", "targets_from_config", "targets_from_model",
]
