"""Inference engines behind one Protocol (`base.Engine`): vLLM (default where installed) and HF (reference)."""
