"""t2l server (FastAPI + Redis cache + vLLM multi-LoRA engine). Imports `hypernet`, never `training`."""
