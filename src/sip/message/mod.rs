//! One SIP message (RFC 3261 §7, §20, §25): parsed once over `bytes::Bytes`, read through typed
//! accessors, answered with a response built per §8.2.6. This module must never copy a body,
//! trust a length it has not checked, or panic on any input.
//!
//! Read bottom-up (no file imports one above it):
//! - `grammar`: the header value grammar and the values it yields (methods, Via, name-addr...);
//! - `headers`: the header fields of a message and their typed accessors;
//! - `head`: parsing the start line and the header section, within the [`Limits`];
//! - `response`: building the response to a request;
//! - `types`: [`Message`], [`Request`], [`Response`], what a caller holds.

mod grammar;
mod head;
mod headers;
mod response;
mod types;

pub use grammar::{CSeq, ContentDisposition, ContentType, Method, NameAddr, Param, Via};
pub(crate) use head::{parse_fields, stream_content_length};
pub use head::{Limits, ParseError};
pub use headers::{HeaderError, Headers};
pub use response::{reason_phrase, ResponseBuilder};
pub use types::{Message, Request, Response};

#[cfg(test)]
mod tests;
