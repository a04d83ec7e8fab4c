"""t2l: Text-to-LoRA tooling shared by the packages (offline assets, the `t2l` command line)."""
