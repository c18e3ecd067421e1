//! Media: per-leg jitter buffering, decoding, the shared timeline, mixing and tones.

pub mod jitter;
