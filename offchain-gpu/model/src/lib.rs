//! A LLaMA-style decoder with hand-written forward and backward, AdamW, corpus and sampler.
