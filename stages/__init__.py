"""Pipeline stages: one module per DVC stage, plus a few small shared modules."""
