//! What a failed `bind` means, in words an operator acts on ("the port is in use"), for every
//! listener the server opens (SIP, TLS, admin). Names no setting itself: the caller says which
//! flag, variable or field the address came from.

use std::io::{Error, ErrorKind};
use std::net::SocketAddr;

/// `addr`, and why it could not be listened on.
pub(crate) fn refusal(addr: SocketAddr, e: &Error) -> String {
    let reason = match e.kind() {
        ErrorKind::AddrInUse => "the port is in use (another callrec, or another server?)".into(),
        ErrorKind::AddrNotAvailable => "not an address of this machine".into(),
        ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges)".into()
        }
        _ => e.to_string(),
    };
    format!("{addr}: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_said_to_be_in_use() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = taken.local_addr().expect("bound");
        let e = std::net::TcpListener::bind(addr).expect_err("taken");
        assert_eq!(
            refusal(addr, &e),
            format!("{addr}: the port is in use (another callrec, or another server?)")
        );
    }
}
