//! SO_REUSEPORT listening sockets: one per worker per configured listener, so the kernel
//! spreads connections over the cores with no shared accept queue.

use std::io;
use std::mem;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::FromRawFd;

/// Bind a listening socket with SO_REUSEADDR and SO_REUSEPORT set (so every worker can bind
/// the same address). Port 0 picks a free port; bind the rest of the set to the port it got.
pub fn bind_reuseport(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly created socket that nothing else owns; the TcpListener takes
    // ownership and closes it on every path below, including errors.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        // SAFETY: fd is a valid socket; the option value points at a live c_int of the given size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                &one as *const libc::c_int as *const libc::c_void,
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // TCP_NODELAY on the listening socket: Linux copies it to every accepted socket, so no
    // connection needs a setsockopt(2) of its own.
    // SAFETY: fd is a valid socket; the option value points at a live c_int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const libc::c_int as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let (storage, len) = sockaddr_of(addr);
    // SAFETY: storage holds a properly initialised sockaddr_in/sockaddr_in6 of length len.
    let rc = unsafe {
        libc::bind(
            fd,
            &storage as *const libc::sockaddr_storage as *const libc::sockaddr,
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a bound stream socket.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

fn sockaddr_of(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            (
                storage,
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (
                storage,
                mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// Bind `count` SO_REUSEPORT sockets on `addr`; with port 0 they all share the port the first got.
pub fn bind_set(addr: SocketAddr, count: usize) -> io::Result<(SocketAddr, Vec<TcpListener>)> {
    let first = bind_reuseport(addr, 1024)?;
    let bound = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..count {
        all.push(bind_reuseport(bound, 1024)?);
    }
    Ok((bound, all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_connections_inherit_tcp_nodelay_from_the_listener() -> io::Result<()> {
        let l = bind_reuseport("127.0.0.1:0".parse().map_err(io::Error::other)?, 16)?;
        let _client = std::net::TcpStream::connect(l.local_addr()?)?;
        l.set_nonblocking(false)?;
        let (accepted, _) = l.accept()?;
        assert!(accepted.nodelay()?, "the accepted socket has Nagle on");
        Ok(())
    }

    #[test]
    fn binds_a_reuseport_set_on_one_ephemeral_port() -> io::Result<()> {
        let (addr, set) = bind_set("127.0.0.1:0".parse().map_err(io::Error::other)?, 3)?;
        assert_ne!(addr.port(), 0);
        assert_eq!(set.len(), 3);
        for l in &set {
            assert_eq!(l.local_addr()?, addr);
        }
        // A client can connect to the shared address.
        std::net::TcpStream::connect(addr)?;
        Ok(())
    }
}
