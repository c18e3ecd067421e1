//! The media chain of one leg and of the call: jitter buffering, decoding, placing decoded
//! audio on one clock, mixing the legs, tones, and what must not be heard. Knows nothing of
//! files, network or policy.

pub mod codec;
pub mod dtmf;
pub(crate) mod interarrival;
pub mod jitter;
pub mod mix;
pub mod resample;
pub mod spans;
pub mod timeline;
pub mod tones;
