"""t2l training: BIG-bench task library, LoRA baselines, reconstruction and SFT trainers, evaluation."""
