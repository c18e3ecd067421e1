#!/usr/bin/python3
"""Protects RTP (and RTCP) packets with libsrtp, for the SRTP tests: an SRTP sender that is
not callrec's own implementation. Reads JSON from stdin:

    {"suite": "AES_CM_128_HMAC_SHA1_80", "key": "<base64 key||salt>",
     "packets": [{"rtcp": false, "hex": "80..."}, ...]}

and writes a JSON list of the protected packets in hex, in the same order (one libsrtp
session, so rollover counters and SRTCP indexes run on as a real sender's would).
Needs Debian's python3-pylibsrtp (scripts/setup installs it)."""
import base64
import json
import sys

from pylibsrtp import Policy, Session

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}

request = json.load(sys.stdin)
policy = Policy(
    key=base64.b64decode(request["key"]),
    ssrc_type=Policy.SSRC_ANY_OUTBOUND,
    srtp_profile=PROFILES[request["suite"]],
)
session = Session(policy=policy)
out = []
for packet in request["packets"]:
    data = bytes.fromhex(packet["hex"])
    protected = session.protect_rtcp(data) if packet["rtcp"] else session.protect(data)
    out.append(protected.hex())
json.dump(out, sys.stdout)
