//! `CaptureReader` over any file: never panics; every datagram's payload is a slice of the
//! input (zero copy); after an `Err` the iterator is done for good (fused); the stats count
//! exactly the datagrams yielded.
#![no_main]

use bytes::Bytes;
use callrec::pcap::CaptureReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);
    let input = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let Ok(mut reader) = CaptureReader::new(buf) else {
        return;
    };
    let mut datagrams = 0u64;
    loop {
        match reader.next() {
            None => break,
            Some(Ok(d)) => {
                datagrams += 1;
                if !d.payload.is_empty() {
                    let start = d.payload.as_ptr() as usize;
                    assert!(input.start <= start && start + d.payload.len() <= input.end);
                }
            }
            Some(Err(_)) => {
                assert!(reader.next().is_none(), "fused after an error");
                break;
            }
        }
    }
    assert!(
        reader.next().is_none() && reader.next().is_none(),
        "fused after the end"
    );
    let stats = reader.stats();
    assert_eq!(stats.udp_datagrams, datagrams);
    assert!(stats.records >= datagrams);
});
