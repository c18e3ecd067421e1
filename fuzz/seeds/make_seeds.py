#!/usr/bin/env python3
"""Writes the fuzz seed corpora from the fixtures and from hand-built inputs.

Run from fuzz/: python3 seeds/make_seeds.py. Needs tshark and editcap (as the tests do).
The jitter and recorder seeds are encoded the way `arbitrary` 1.x decodes the targets'
inputs (`cargo fuzz fmt TARGET FILE` prints what a seed decodes to): integers little-endian,
an enum variant as a u32 scaled onto the variant count, a bool before each Vec element.
"""
import os
import struct
import subprocess
import tempfile

FIXTURES = "../fixtures"
SEEDS = "seeds"


def write(target, name, data):
    os.makedirs(f"{SEEDS}/{target}", exist_ok=True)
    with open(f"{SEEDS}/{target}/{name}", "wb") as f:
        f.write(data)


def udp_payloads(capture, count):
    out = subprocess.run(
        ["tshark", "-r", capture, "-c", str(count), "-T", "fields", "-e", "udp.payload"],
        check=True, capture_output=True, text=True).stdout
    return [bytes.fromhex(line.replace(":", "")) for line in out.split() if line]


def rtp(pt, seq, ts, ssrc, payload, marker=0, csrcs=(), ext=None, padding=0):
    b0 = 0x80 | len(csrcs) | (0x10 if ext else 0) | (0x20 if padding else 0)
    b = bytes([b0, marker << 7 | pt]) + struct.pack(">HII", seq, ts, ssrc)
    b += b"".join(struct.pack(">I", c) for c in csrcs)
    if ext:
        profile, data = ext
        b += struct.pack(">HH", profile, len(data) // 4) + data
    b += payload
    if padding:
        b += bytes(padding - 1) + bytes([padding])
    return b


# --- rtp ---------------------------------------------------------------------------------
for fixture, name in [("pcmu-clean.pcap", "pcmu"), ("g722-clean.pcap", "g722"),
                      ("opus-clean.pcapng", "opus")]:
    write("rtp", name, udp_payloads(f"{FIXTURES}/{fixture}", 1)[0])
write("rtp", "csrc-ext-padding", rtp(8, 0xfffe, 0xdeadbeef, 0x12345678, bytes(range(40)),
                                     marker=1, csrcs=(1, 2),
                                     ext=(0xBEDE, bytes([0x10, 0xff, 0, 0])), padding=4))
write("rtp", "event", rtp(101, 7, 8000, 1, bytes([5, 0x80, 0x03, 0x20])))

# --- rtcp --------------------------------------------------------------------------------
def rtcp(count, pt, body, padding=0):
    if padding:
        body += bytes(padding - 1) + bytes([padding])
    b0 = 0x80 | count | (0x20 if padding else 0)
    return bytes([b0, pt]) + struct.pack(">H", len(body) // 4) + body

# SR + SDES CNAME captured from ffmpeg (the rtcp unit tests' FFMPEG_SR_SDES).
write("rtcp", "ffmpeg-sr-sdes", bytes.fromhex(
    "80c80006eb6dc242eeb1848fe49ba5e3c30cab55000000280000a000"
    "81ca0005eb6dc242010b66666d70656740686f7374000000"))
block = struct.pack(">IB3sIIII", 0x01020304, 0x40, (-3 & 0xffffff).to_bytes(3, "big"),
                    0x1fffe, 160, 0xaabbccdd, 0x18000)
write("rtcp", "rr-bye", rtcp(2, 201, struct.pack(">I", 9) + block + block)
      + rtcp(1, 203, struct.pack(">I", 9) + bytes([6]) + b"hangup" + bytes(1)))
write("rtcp", "rr-app-padded", rtcp(0, 201, struct.pack(">I", 9))
      + rtcp(3, 204, struct.pack(">I", 9) + b"TEST" + bytes(8), padding=4))
write("rtcp", "psfb-pli", rtcp(1, 206, struct.pack(">II", 9, 10)))

# --- capture and offline: the fixtures' first packets (each file stays far below 64 KiB) --
with tempfile.TemporaryDirectory() as tmp:
    for fixture, packets in [("pcmu-impaired.pcap", 120), ("g722-impaired.pcapng", 80),
                             ("opus-impaired.pcap", 120), ("pcma-clean.pcapng", 60)]:
        fmt = "pcapng" if fixture.endswith("pcapng") else "pcap"
        out = f"{tmp}/{fixture}"
        subprocess.run(["editcap", "-F", fmt, "-r", f"{FIXTURES}/{fixture}", out,
                        f"1-{packets}"], check=True, capture_output=True)
        data = open(out, "rb").read()
        write("capture", fixture, data)
        write("offline", fixture, data)


# --- arbitrary encodings -----------------------------------------------------------------
def u8(v): return struct.pack("<B", v & 0xff)
def i8(v): return struct.pack("<b", v)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def i32(v): return struct.pack("<i", v)
def boolean(v): return u8(1 if v else 0)


def variant(index, count):
    """A u32 that `(u64::from(x) * count) >> 32` maps to `index` (the middle of its bucket)."""
    return u32(((2 * index + 1) << 32) // (2 * count))


def vec(elements):
    return b"".join(b"\x01" + e for e in elements) + b"\x00"


def rest(elements):
    """A Vec in the last field: elements until the data ends."""
    return b"".join(b"\x01" + e for e in elements)


# jitter: Input { max_packets, latency_ms, max_dropout, max_misorder, ops }
def push(delta_ms, source, sequence, timestamp):
    return variant(0, 4) + u8(delta_ms) + u8(source) + u16(sequence) + u32(timestamp)


def poll(delta_ms):
    return variant(2, 4) + u16(delta_ms)


DRAIN = variant(3, 4)


def jitter(max_packets, latency_ms, ops):
    return u8(max_packets) + u16(latency_ms) + u16(3000) + u16(100) + rest(ops)


in_order = []
for i in range(40):
    in_order += [push(20, 0, (65520 + i) & 0xffff, 160 * i), poll(0)]
write("jitter", "in-order-wrap", jitter(7, 60, in_order + [poll(200), DRAIN]))
impaired = []
for i in [0, 2, 1, 3, 3, 6, 5, 9, 4, 10, 11]:
    impaired += [push(20, 0, 100 + i, 160 * i), poll(0)]
impaired += [push(20, 1, 7, 0), poll(0), push(20, 0, 112, 0), push(20, 1, 8, 160), poll(100),
             push(0, 1, 5000, 0), push(20, 1, 5001, 160), variant(1, 4) + u16(50) + u16(9), DRAIN]
write("jitter", "reorder-loss-ssrc-restart", jitter(3, 40, impaired))


# recorder: Input { format, layout, cut_pauses, notify_pauses, reminder, opus_rate,
#                   payloads: [Payloads; 2], events }
def payloads(opus=False, event=False):
    return boolean(opus) + boolean(event) + boolean(False)


def datagram(leg_b, delta_ms, body):
    return variant(0, 4) + boolean(leg_b) + u16(delta_ms) + body


def raw(data):
    return variant(0, 2) + vec([u8(b) for b in data])


PT = {"pcmu": 0, "pcma": 1, "g722": 2, "cn": 3, "event": 4, "opus": 5}


def rtp_event(pt, source=0, seq_step=1, frames=1, fill=(0x55, 20), payload=None, marker=False,
              padding=0):
    b = variant(1, 2) + boolean(marker) + variant(PT[pt], 7) + u8(source) + i8(seq_step)
    b += variant(0, 2) + u8(frames) + u8(padding)
    if payload is None:
        b += variant(0, 2) + u8(fill[0]) + u8(fill[1])
    else:
        b += variant(1, 2) + vec([u8(x) for x in payload])
    return b


def pause(after_ms): return variant(1, 4) + u16(after_ms)
def resume(after_ms): return variant(2, 4) + u16(after_ms)
def exclude(from_ms, len_ms): return variant(3, 4) + u32(from_ms) + u16(len_ms)


def recorder(fmt_opus, layout, cut, notify, reminder, a, b, events, opus_rate=2):
    head = u8(0 if fmt_opus else 1) + variant(layout, 3) + boolean(cut) + boolean(notify)
    head += (boolean(True) + u8(reminder - 10)) if reminder else boolean(False)
    return head + u8(opus_rate) + a + b + rest(events)


# Two G.711 legs, 20 ms packets, B 250 ms late, a little jitter and one lost packet.
events = []
for i in range(100):
    events.append(datagram(False, 20 if i % 7 else 26, rtp_event("pcmu", fill=(0x10 + i, 20),
                                                                seq_step=2 if i == 50 else 1)))
    if i >= 12:
        events.append(datagram(True, 0, rtp_event("pcma", fill=(0x90 + i, 20))))
write("recorder", "g711-stereo", recorder(False, 0, False, False, None,
                                          payloads(), payloads(), events))

# 11 s, 60 ms packets, a reminder every 10 s, a notified pause cut out, an exclusion.
events = [exclude(500, 1000)]
for i in range(185):
    events.append(datagram(False, 60, rtp_event("pcmu", frames=3, fill=(0x20 + i % 64, 60))))
    events.append(datagram(True, 0, rtp_event("g722", frames=3, fill=(0x40 + i % 64, 60))))
    if i == 60:
        events.append(pause(300))
    if i == 90:
        events.append(resume(300))
write("recorder", "reminder-pause-cut", recorder(False, 1, True, True, 10,
                                                 payloads(), payloads(), events))

# Ogg Opus out: real Opus packets on A (payload type 111 mapped), DTMF, RTCP, SSRC change
# and a reordered packet on B; separate files.
opus = udp_payloads(f"{FIXTURES}/opus-clean.pcapng", 30)
events = [datagram(False, 20, raw(p)) for p in opus[:25]]
events += [datagram(True, 5, rtp_event("pcmu")), datagram(True, 20, rtp_event("pcmu", seq_step=2)),
           datagram(True, 3, rtp_event("pcmu", seq_step=-1, frames=255)),
           datagram(True, 20, rtp_event("event", payload=[5, 0, 0, 160], marker=True)),
           datagram(True, 20, rtp_event("event", frames=0, payload=[5, 0x80, 1, 64])),
           datagram(True, 10, raw(open(f"{SEEDS}/rtcp/ffmpeg-sr-sdes", "rb").read())),
           datagram(True, 10, rtp_event("pcmu", source=1, seq_step=77)),
           datagram(True, 20, rtp_event("cn", payload=[40]))]
write("recorder", "opus-separate-impaired", recorder(True, 2, False, False, None,
                                                     payloads(opus=True), payloads(event=True),
                                                     events))


# --- sip_message: the SIP fixtures and RFC 4475 messages -----------------------------------
def crlf(text):
    return text.replace("\n", "\r\n").encode()


SIP = f"{FIXTURES}/sip"
sip_messages = {name[:-4]: open(f"{SIP}/{name}", "rb").read()
                for name in sorted(os.listdir(SIP)) if name.endswith(".sip")}
SDP_150 = ("v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.4\nt=0 0\n"
           "m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n")
# RFC 4475 §3.1.1.1: folding, white space everywhere, compact and odd-case names.
sip_messages["rfc4475-wsinv"] = crlf(r'''INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

''' + SDP_150)
# RFC 4475 §3.1.1.2: every token character, quoted control characters, UTF-8.
sip_messages["rfc4475-intmeth"] = crlf(
    "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
    "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\";tag=_token~1'+`*%!-.\n"
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
    "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
    "Max-Forwards: 255\n"
    "extensionHeader-!.%*+_`'~:\ufeff\u5927\u505c\u96fb\n"
    "Content-Length: 0\n\n")
# RFC 4475 §3.1.2.2 and §3.1.2.16: rejected, but answerable (400, 505).
sip_messages["rfc4475-clerr"] = crlf(
    "INVITE sip:user@example.com SIP/2.0\nMax-Forwards: 80\nTo: sip:j.user@example.com\n"
    "From: sip:caller@example.net;tag=93942939o2\nCall-ID: clerr.0ha0isndaksdjweiafasdk3\n"
    "CSeq: 8 INVITE\nVia: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\n"
    "Content-Type: application/sdp\nContent-Length: 9999\n\n" + SDP_150)
sip_messages["rfc4475-badvers"] = crlf(
    "OPTIONS sip:t.watson@example.org SIP/7.0\nVia:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\n"
    "Max-Forwards:     70\nFrom:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\n"
    "To:      T. Watson <sip:t.watson@example.org>\nCall-ID: badvers.31417@c.example.com\n"
    "CSeq:    1 OPTIONS\nl: 0\n\n")
# RFC 4475 §3.1.1.11: a multipart body with a binary part.
mpart = (b"--7a9cbec02ceef655\r\nContent-Type: text/plain\r\n\r\nHello\r\n--7a9cbec02ceef655\r\n"
         b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) +
         b"\r\n--7a9cbec02ceef655--\r\n")
sip_messages["rfc4475-mpart01"] = crlf(
    "MESSAGE sip:kumiko@example.org SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d8754z-;rport\n"
    "To: <sip:kumiko@example.org>\nFrom: <sip:fluffy@example.com>;tag=2fb0dcc9\n"
    "Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\nCSeq: 1 MESSAGE\n"
    f"Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\nContent-Length: {len(mpart)}\n\n") + mpart
sip_messages["response-200"] = crlf(
    "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK2C1A3B7F;received=192.0.2.10;rport=5060\n"
    "From: <sip:192.0.2.10>;tag=7E8B2C30-1A4\nTo: <sip:srs@192.0.2.50>;tag=srs-4f2a9c\n"
    "Call-ID: 9F2D4E00-8A1B11F0-80A4C1D2-3E5F6A7B@192.0.2.10\nCSeq: 101 INVITE\n"
    "Contact: <sip:srs@192.0.2.50:5060>\nContent-Length: 0\n\n")
for name, data in sip_messages.items():
    write("sip_message", name, data)


# --- sip_framing: limit (u16, + 64), read sizes (count, then size - 1 each), the stream ----
def framing(limit, sizes, stream):
    return u16(limit - 64) + u8(len(sizes)) + bytes(size - 1 for size in sizes) + stream


invite, options, bye = (sip_messages[name] for name in
                        ["invite-siprec-cube", "options-cube", "bye-cube"])
write("sip_framing", "pipelined-with-keepalives",
      framing(4096, [1, 7, 200, 13], b"\r\n\r\n" + options + b"\r\n" + invite + b"\r\n\r\n" + bye))
write("sip_framing", "byte-by-byte", framing(4096, [1], options + bye))
write("sip_framing", "over-the-limit", framing(1024, [256], options + invite))
write("sip_framing", "no-content-length",
      framing(512, [9], b"BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"))


# --- media_repair: kind byte (even: Ogg Opus, odd: WAV), then a file cut where a crash left it
def pcm_wav(rate, channels, seconds):
    frames = int(rate * seconds)
    samples = b"".join(struct.pack("<h", int(8000 * ((i * 37 // channels) % 200 - 100) / 100))
                       for i in range(frames * channels))
    header = (b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " +
              struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16) +
              b"data" + struct.pack("<I", len(samples)))
    return header + samples


wav = pcm_wav(8000, 2, 0.3)
with tempfile.TemporaryDirectory() as tmp:
    with open(f"{tmp}/in.wav", "wb") as f:
        f.write(pcm_wav(16000, 1, 2.5))
    subprocess.run(["opusenc", "--quiet", "--max-delay", "500", f"{tmp}/in.wav", f"{tmp}/out.opus"],
                   check=True)
    with open(f"{tmp}/out.opus", "rb") as f:
        opus = f.read()
write("media_repair", "opus-whole", b"\x00" + opus)
write("media_repair", "opus-cut", b"\x00" + opus[:len(opus) * 2 // 3])
write("media_repair", "opus-torn", b"\x00" + opus[:len(opus) // 2] + bytes(64))
write("media_repair", "wav-whole", b"\x01" + wav)
write("media_repair", "wav-cut-odd", b"\x01" + wav[:1001])
write("media_repair", "wav-unpatched", b"\x01" + wav[:4] + bytes(4) + wav[8:40] + bytes(4) + wav[44:])


# --- siprec_offer: transport byte (even: a TCP stream, odd: one UDP datagram), then messages --
def siprec_invite(sdp, xml, boundary="b-callrec", closed=True):
    body = b"--" + boundary.encode() + b"\r\nContent-Type: application/sdp\r\n\r\n" + sdp
    if xml is not None:
        body += (b"\r\n--" + boundary.encode() + b"\r\nContent-Type: application/rs-metadata+xml"
                 b"\r\nContent-Disposition: recording-session\r\n\r\n" + xml)
    body += (b"\r\n--" + boundary.encode() + b"--\r\n") if closed else b"\r\n"
    head = ("INVITE sip:srs@192.0.2.50 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.10;branch=z9hG4bKseed\r\n"
            "From: <sip:src@192.0.2.10>;tag=s1\r\nTo: <sip:srs@192.0.2.50>\r\nCall-ID: seed-1\r\n"
            "CSeq: 1 INVITE\r\nContact: <sip:src@192.0.2.10>;+sip.src\r\nRequire: siprec\r\n"
            f"Max-Forwards: 70\r\nContent-Type: multipart/mixed;boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


for name in sorted(os.listdir(f"{FIXTURES}/sip")):
    if name.startswith("invite-"):
        invite = open(f"{FIXTURES}/sip/{name}", "rb").read()
        write("siprec_offer", f"tcp-{name[:-4]}", b"\x00" + invite)
        write("siprec_offer", f"udp-{name[:-4]}", b"\x01" + invite)
SIPREC = f"{FIXTURES}/siprec"
for name in sorted(os.listdir(SIPREC)):
    if name.endswith(".sdp"):
        sdp = open(f"{SIPREC}/{name}", "rb").read()
        xml_path = f"{SIPREC}/{name[:-4]}.xml"
        xml = open(xml_path, "rb").read() if os.path.exists(xml_path) else None
        write("siprec_offer", f"pair-{name[:-4]}", b"\x00" + siprec_invite(sdp, xml))
        write("siprec_offer", f"pair-{name[:-4]}-unclosed",
              b"\x01" + siprec_invite(sdp, xml, closed=False))
