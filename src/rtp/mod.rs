//! TODO
pub mod seq;
