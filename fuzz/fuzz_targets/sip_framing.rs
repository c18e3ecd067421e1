//! `Framer` on any byte stream cut into any reads: never panics, yields only whole messages
//! within the limit, holds at most the limit once drained, and accounts for every byte.
//!
//! Input: the limit (2 bytes little-endian, 64 + value % 4096), a count, that many read sizes
//! (each 1..=256, used in turn), then the stream. After each read, frames are taken until
//! `None`; then `pushed == message bytes + 4 * pings + skipped line ends + buffered`, and
//! `buffered <= limit`. A yielded message never fails to parse for its length (framer and
//! parser agree on where a body ends). After an error nothing more comes out.
#![no_main]

use callrec::sip::framing::{Frame, Framer};
use callrec::sip::message::{Limits, Message, ParseError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [low, high, count, rest @ ..] = data else {
        return;
    };
    let limit = 64 + usize::from(u16::from_le_bytes([*low, *high])) % 4096;
    let (sizes, stream) = rest.split_at(usize::from(*count).min(rest.len()));
    let limits = Limits {
        max_message_bytes: limit,
        ..Limits::default()
    };
    let mut framer = Framer::new(&limits);
    let mut sizes = sizes.iter().map(|&size| usize::from(size) + 1).cycle();
    let (mut offset, mut pushed) = (0, 0u64);
    while offset < stream.len() {
        let size = sizes.next().unwrap_or(stream.len());
        let read = &stream[offset..(offset + size).min(stream.len())];
        offset += read.len();
        framer.push(read);
        pushed += read.len() as u64;
        let mut failed = false;
        while let Some(frame) = framer.next() {
            match frame {
                Ok(Frame::Message(message)) => {
                    assert!(!message.is_empty() && message.len() <= limit);
                    match Message::parse(message.clone(), &limits) {
                        Ok(parsed) => {
                            assert!(message.ends_with(parsed.body()));
                            assert_eq!(
                                parsed.headers().content_length(),
                                Ok(Some(parsed.body().len()))
                            );
                        }
                        Err(error) => assert!(
                            !matches!(
                                error,
                                ParseError::BodyTruncated { .. } | ParseError::TooLarge { .. }
                            ),
                            "{error}"
                        ),
                    }
                }
                Ok(Frame::Ping) => {}
                Err(_) => failed = true,
            }
        }
        if failed {
            assert_eq!(framer.buffered(), 0);
            framer.push(b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n");
            assert_eq!(framer.next(), None);
            return;
        }
        assert!(framer.buffered() <= limit);
        let stats = framer.stats();
        assert_eq!(
            stats.message_bytes + 4 * stats.pings + stats.line_end_bytes + framer.buffered() as u64,
            pushed
        );
    }
});
