//! A TCP listener whose connections a request handler can kill, so
//! `Fault::Reset` closes the socket without a single response byte.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Per-connection switch a handler flips to drop its own connection.
#[derive(Clone, Debug, Default)]
pub struct Kill(Arc<AtomicBool>);

impl Kill {
    /// Makes every later read or write on the connection fail.
    pub fn fire(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn fired(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, KillableListener>> for Kill {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// TCP listener handing out [`KillableStream`]s; the "address" of each
/// connection is its [`Kill`] switch so handlers can reach it via ConnectInfo.
pub struct KillableListener(pub TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = Kill;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Accept errors (e.g. EMFILE) are transient for a test server.
            if let Ok((tcp, _)) = self.0.accept().await {
                let kill = Kill::default();
                return (KillableStream { tcp, kill: kill.clone() }, kill);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Kill::default())
    }
}

/// A TCP stream that fails every write once its [`Kill`] fired, so hyper
/// drops the connection before a single response byte goes out.
pub struct KillableStream {
    tcp: TcpStream,
    kill: Kill,
}

impl KillableStream {
    fn killed(&self) -> Option<std::io::Error> {
        if !self.kill.fired() {
            return None;
        }
        // Zero linger makes the close an RST, the way a crashed proxy looks.
        let _ = self.tcp.set_zero_linger();
        Some(std::io::ErrorKind::ConnectionReset.into())
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.killed() {
            Some(e) => Poll::Ready(Err(e)),
            None => Pin::new(&mut self.tcp).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.killed() {
            Some(e) => Poll::Ready(Err(e)),
            None => Pin::new(&mut self.tcp).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
