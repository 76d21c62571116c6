"""The DVC stages of dvc.yaml, one module each, run as `python -m stages.NAME`. Their code is
short: the library lives in mnist_nas."""
