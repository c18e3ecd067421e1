//! Media: turning one leg's RTP payloads into PCM. Owns the codecs and what sits between the
//! packets and the decoder; never touches sockets, files or the clock.

pub mod codec;
