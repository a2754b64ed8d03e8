//! What `set-log-level`, `set-tos` and `set-mark` actions leave for the connection to apply,
//! whichever rule set ran them (`tcp-request connection|session|content`, `http-request`,
//! `http-response`).

/// What `set-log-level`, `set-tos` and `set-mark` rules leave for the caller to apply.
#[derive(Clone, Copy, Debug, Default)]
pub struct Effects {
    /// The level of the transaction's log line (-1: none).
    pub log_level: Option<i8>,
    /// IP_TOS (IPV6_TCLASS) of the client connection.
    pub tos: Option<u8>,
    /// SO_MARK of the client connection.
    pub mark: Option<u32>,
}

impl Effects {
    /// Applies the socket options to the client connection `fd` (failures ignored, as
    /// HAProxy ignores them: SO_MARK needs CAP_NET_ADMIN).
    pub fn apply_to(&self, fd: std::os::fd::RawFd, v6: bool) {
        if let Some(t) = self.tos {
            let (level, opt) = if v6 {
                (libc::IPPROTO_IPV6, libc::IPV6_TCLASS)
            } else {
                (libc::IPPROTO_IP, libc::IP_TOS)
            };
            let _ = crate::sys::setsockopt_raw(fd, level, opt, i32::from(t));
        }
        if let Some(m) = self.mark {
            let _ = crate::sys::setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_MARK, m as i32);
        }
    }
}
