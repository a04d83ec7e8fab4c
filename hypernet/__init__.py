"""t2l hypernetwork: task description -> LoRA adapter (Text-to-LoRA, arXiv 2506.06105). Imports nothing of ours."""

from .adapter import Adapter, AdapterFormatError
from .checkpoint import (Checkpoint, CheckpointError, init_checkpoint, load_checkpoint, save_checkpoint,
                         write_description_index, write_task_accuracy)
from .config import HyperConfig
from .description_index import (Coverage, DescriptionIndex, DescriptionIndexError, Expected, Neighbour, read_accuracy,
                                write_accuracy)
from .encoder import (DescriptionError, EncoderSpec, SentenceTransformerEncoder, TaskEncoder, TransformersEncoder,
                      add_full_stop, make_encoder, normalize_description, normalize_embeddings)
from .generate import adapters_from_embeddings, embed_descriptions, generate_adapters
from .inject import inject
from .lora import LoRABatch, apply_lora, delta_weight, lora_scale
from .model import HyperLoRA, count_parameters
from .reference import ReferenceImportError, import_reference, import_reference_checkpoint
from .targets import TargetSpec, targets_from_config, targets_from_model

__all__ = [
    "Adapter", "AdapterFormatError", "Checkpoint", "CheckpointError", "Coverage", "DescriptionError",
    "DescriptionIndex", "DescriptionIndexError", "EncoderSpec", "Expected", "Neighbour", "read_accuracy", "write_accuracy",
    "HyperConfig", "HyperLoRA", "LoRABatch", "ReferenceImportError", "SentenceTransformerEncoder", "TargetSpec",
    "TaskEncoder", "TransformersEncoder", "adapters_from_embeddings", "add_full_stop", "apply_lora",
    "count_parameters", "delta_weight", "embed_descriptions", "generate_adapters", "import_reference",
    "import_reference_checkpoint", "init_checkpoint", "inject", "load_checkpoint", "lora_scale", "make_encoder",
    "normalize_description", "normalize_embeddings", "save_checkpoint", "targets_from_config", "targets_from_model",
    "write_description_index", "write_task_accuracy",
]
