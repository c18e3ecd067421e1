//! `srtp::sdes::Crypto::parse` on any `a=crypto` value, and `sdes::choose` over the lines of
//! any text: never panics; a line that reads has a tag of at most 9 digits and a key of its
//! suite's length, and what we write of it (our answer's form) reads back as the same tag,
//! suite and key; `choose` takes the first line that reads, else the first line's error.
#![no_main]

use callrec::srtp::sdes::{self, Crypto, CryptoError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<&str> = text.split('\n').collect();
    for line in &lines {
        let Ok(crypto) = Crypto::parse(line) else {
            continue;
        };
        assert!(crypto.tag <= 999_999_999);
        let suite = crypto.key.suite();
        assert_eq!(crypto.key.bytes().len(), suite.key_len() + suite.salt_len());
        let written = crypto.encode();
        let again = Crypto::parse(&written).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(
            (again.tag, &again.key, again.lifetime),
            (crypto.tag, &crypto.key, None)
        );
    }
    let first_ok = lines.iter().find_map(|l| Crypto::parse(l).ok());
    match (sdes::choose(lines.iter().copied()), first_ok) {
        (Ok(chosen), Some(first)) => assert_eq!(chosen, first),
        (Err(e), None) => {
            assert_ne!(e, CryptoError::Missing, "there was a line");
            assert_eq!(Crypto::parse(lines[0]), Err(e));
        }
        (chosen, first) => panic!("choose {chosen:?}, first that reads {first:?}"),
    }
});
