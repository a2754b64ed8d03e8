//! kTLS system calls: attach the kernel's `tls` upper-layer protocol to a TCP socket, give
//! it the record keys, and read or write one record with an explicit content type.
//!
//! Kernel facts these wrappers rely on (linux/net/tls, checked on 6.1 and 6.18):
//! - `setsockopt(SOL_TCP, TCP_ULP, "tls")` needs an ESTABLISHED socket (ENOTCONN otherwise)
//!   and fails with ENOENT when the kernel has no CONFIG_TLS, or when the `tls` module
//!   cannot be loaded (it is requested as `tcp-ulp-tls` through modprobe on first use).
//! - `setsockopt(SOL_TLS, TLS_TX|TLS_RX, crypto_info)` may be done once per direction;
//!   ENOENT/EINVAL when the kernel lacks the cipher. Before 6.13 a second TLS_RX (TLS 1.3
//!   key update) fails with EBUSY.
//! - With TLS_RX set, `read`/`recv` of a non-data record fails with EIO (no room for the
//!   record-type cmsg) and `splice` fails with EINVAL; `recvmsg` with a control buffer
//!   returns the record's type in a `SOL_TLS`/`TLS_GET_RECORD_TYPE` cmsg and its
//!   decrypted payload. For TLS 1.3 the type is the inner content type.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{cvt, cvt_size};

/// Key material for one direction, in the kernel's layout (`struct tls12_crypto_info_*`,
/// used for TLS 1.3 as well).
#[derive(Clone, Copy)]
pub enum TlsCryptoInfo {
    AesGcm128(libc::tls12_crypto_info_aes_gcm_128),
    AesGcm256(libc::tls12_crypto_info_aes_gcm_256),
    Chacha20Poly1305(libc::tls12_crypto_info_chacha20_poly1305),
}

pub use libc::{
    TLS_1_2_VERSION, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
    TLS_CIPHER_CHACHA20_POLY1305,
};

/// Attaches the `tls` ULP to a connected TCP socket. Nothing else changes on the socket:
/// until TLS_TX/TLS_RX are set it still carries plain TCP.
pub fn set_tls_ulp(fd: BorrowedFd<'_>) -> io::Result<()> {
    let name = b"tls";
    // SAFETY: the option value is the 3 bytes of `name`, valid for the call; the kernel
    // copies at most `optlen` bytes.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_ULP,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Gives the kernel the keys of one direction (`rx`: records received).
pub fn set_tls_crypto(fd: BorrowedFd<'_>, rx: bool, info: &TlsCryptoInfo) -> io::Result<()> {
    let opt = if rx { libc::TLS_RX } else { libc::TLS_TX };
    let (ptr, len): (*const libc::c_void, usize) = match info {
        TlsCryptoInfo::AesGcm128(i) => ((i as *const _ as *const libc::c_void), size_of_val(i)),
        TlsCryptoInfo::AesGcm256(i) => ((i as *const _ as *const libc::c_void), size_of_val(i)),
        TlsCryptoInfo::Chacha20Poly1305(i) => {
            ((i as *const _ as *const libc::c_void), size_of_val(i))
        }
    };
    // SAFETY: `ptr`/`len` describe the #[repr(C)] struct borrowed by `info`, alive for the
    // call; the kernel reads exactly `len` bytes and checks them against the cipher type.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_TLS,
            opt,
            ptr,
            len as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// `recvmsg` on a kTLS socket with room for the record-type cmsg: returns the content type
/// of the records read (the kernel never mixes types in one call) and the bytes copied.
/// Without `MSG_DONTWAIT` in `flags` it blocks like `recv`. A record of type 0 is
/// reported when the kernel sent no cmsg (a socket without TLS_RX).
pub fn recv_tls_record(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    flags: libc::c_int,
) -> io::Result<(u8, usize)> {
    // Room for one cmsghdr with a 1-byte payload, aligned as the kernel writes it.
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: `msg` points at `iov` (describing `buf`) and `cbuf`, all alive and writable
    // for the call's duration.
    let n = cvt_size(unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) })?;
    let mut record_type = 0u8;
    // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR walk the control buffer the kernel filled, bounded
    // by msg_controllen; CMSG_DATA of a SOL_TLS/TLS_GET_RECORD_TYPE cmsg holds one byte.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_TLS && (*c).cmsg_type == libc::TLS_GET_RECORD_TYPE {
                record_type = *libc::CMSG_DATA(c);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((record_type, n))
}

/// `sendmsg` of one record of the given content type (e.g. 21, an alert) on a kTLS socket.
pub fn send_tls_record(fd: BorrowedFd<'_>, record_type: u8, data: &[u8]) -> io::Result<usize> {
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(1) } as usize;
    // SAFETY: the control buffer is 64 bytes, larger than CMSG_SPACE(1); CMSG_FIRSTHDR
    // returns its start, and CMSG_DATA points inside it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_TLS;
        (*c).cmsg_type = libc::TLS_SET_RECORD_TYPE;
        (*c).cmsg_len = libc::CMSG_LEN(1) as usize;
        *libc::CMSG_DATA(c) = record_type;
    }
    // SAFETY: `msg` describes `data` (only read by sendmsg) and `cbuf`, alive for the call.
    cvt_size(unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })
}
