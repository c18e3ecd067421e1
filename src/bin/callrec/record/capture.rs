//! Reading the capture a person names: a file, or standard input for `-`, and the refusals
//! that tell them what the bytes are when they are no capture at all (nothing, or gzip).
//! Parsing the capture is the library's; this only reads and names.

use crate::failure::Failure;
use std::io::{IsTerminal, Read};
use std::path::Path;

/// gzip's first two bytes (RFC 1952 §2.3.1): `capture.pcap.gz` is common, and its bytes are
/// no pcap magic at all.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How a message names the capture: its path, or `standard input`.
pub fn name(path: &Path) -> String {
    match is_stdin(path) {
        true => "standard input".into(),
        false => path.display().to_string(),
    }
}

/// `-` is standard input, as for most tools that read a file.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The capture's bytes, refused with the file's name when they are empty or gzip-compressed.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    let bytes = match is_stdin(path) {
        true => {
            // A capture is never typed: waiting for one on a terminal would only look hung.
            if std::io::stdin().is_terminal() {
                return Err(Failure::BadInput(
                    "`record -` reads the capture from standard input, which is a terminal: \
                     pipe a capture in (callrec record - < call.pcap)"
                        .into(),
                ));
            }
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read the capture from standard input: {e}"))?;
            bytes
        }
        false => std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", name(path)))?,
    };
    if bytes.is_empty() {
        return Err(Failure::BadInput(format!(
            "{}: empty file, not a packet capture",
            name(path)
        )));
    }
    if bytes.starts_with(&GZIP_MAGIC) {
        return Err(Failure::BadInput(format!(
            "{}: gzip-compressed, not a packet capture: gunzip it first (or pipe it: gunzip -c \
             FILE | callrec record -)",
            name(path)
        )));
    }
    Ok(bytes)
}
