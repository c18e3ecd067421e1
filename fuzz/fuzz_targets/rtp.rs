//! `RtpPacket::parse` on any datagram: never panics, and a packet it accepts is consistent.
//!
//! On `Ok`: header + extension, payload and padding add up to the datagram exactly; the
//! payload and extension data are slices of the input (no copy); every accessor agrees with
//! the bytes it reads.
#![no_main]

use bytes::Bytes;
use callrec::rtp::RtpPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);
    let input = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let Ok(p) = RtpPacket::parse(buf.clone()) else {
        return;
    };
    assert_eq!(p.version(), 2);
    assert_eq!(p.as_bytes(), &buf);
    assert!(!(72..=76).contains(&p.payload_type()));
    assert_eq!(p.marker(), data[1] & 0x80 != 0);
    assert_eq!(p.sequence(), u16::from_be_bytes([data[2], data[3]]));
    assert_eq!(
        p.ssrc(),
        u32::from_be_bytes([data[8], data[9], data[10], data[11]])
    );

    let csrcs = p.csrcs().count();
    assert_eq!(csrcs, usize::from(data[0] & 0x0f));
    let mut header = 12 + 4 * csrcs;
    if let Some(ext) = p.extension() {
        assert_eq!(ext.data.len() % 4, 0);
        let data_start = ext.data.as_ptr() as usize;
        assert_eq!(
            data_start,
            input.start + header + 4,
            "extension data follows its header"
        );
        header += 4 + ext.data.len();
    } else {
        assert_eq!(data[0] & 0x10, 0);
    }
    let padding = if p.padding() {
        usize::from(data[data.len() - 1])
    } else {
        0
    };
    let payload = p.payload_bytes();
    assert_eq!(header + payload.len() + padding, data.len());
    assert_eq!(p.payload(), &data[header..header + payload.len()]);
    if !payload.is_empty() {
        let start = payload.as_ptr() as usize;
        assert_eq!(
            start,
            input.start + header,
            "payload is a slice of the input"
        );
        assert!(start + payload.len() <= input.end);
        assert_eq!(p.payload().as_ptr(), payload.as_ptr());
    }
});
