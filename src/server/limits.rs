//! What one listener may cost: connections, header bytes and count, and how long a client may
//! take to send a request head or to take an answer. Chosen per listener by who can reach it.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    time::Sleep,
};

/// hyper parses up to this many headers in a buffer on the stack; a different count costs a
/// heap allocation per request, which the metadata API's hot path avoids.
const STACK_HEADERS: usize = 100;

/// The limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// At most this many connections at once; more wait in the kernel's backlog.
    pub connections: usize,
    /// The read buffer, which bounds a request head (hyper answers 431 past it). At least
    /// 8 KiB (hyper's minimum).
    pub header_bytes: usize,
    /// At most this many header fields.
    pub headers: usize,
    /// A request head must arrive within this; it also closes a keep-alive connection idle
    /// that long (hyper starts the clock when it waits for the next head), and bounds the TLS
    /// handshake.
    pub header_timeout: Duration,
    /// A write the client does not take (a full socket: a client that pipelines and never
    /// reads) fails after this, closing the connection.
    pub write_timeout: Duration,
    /// TCP_USER_TIMEOUT: sent data unacknowledged this long (a peer that vanished) drops the
    /// connection in the kernel.
    pub user_timeout: Duration,
}

impl Limits {
    /// The loopback metadata API: only the pod's own containers reach it, SDKs keep a few
    /// pooled connections each, and requests are small GETs. 256 connections of 16 KiB is
    /// 4 MiB at most; hyper's 100 headers stay on the stack.
    pub(crate) const METADATA: Self = Self {
        connections: 256,
        header_bytes: 16 << 10,
        headers: STACK_HEADERS,
        header_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(10),
        user_timeout: Duration::from_secs(10),
    };

    /// An admin listener (`/healthz`, `/readyz`, `/metrics`) on `[::]`: the kubelet's probes
    /// and Prometheus send a short head in one segment, but anything in the cluster can connect.
    /// Many small slots (256 of 8 KiB, 2 MiB at most) held at most 2 s each keep a probe
    /// answered while slow or oversized clients come and go.
    pub(crate) const ADMIN: Self = Self {
        connections: 256,
        header_bytes: 8 << 10,
        headers: 32,
        header_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(10),
        user_timeout: Duration::from_secs(10),
    };

    /// The webhook's review listener (TLS): the API server keeps a few connections and sends
    /// bodies up to 3 MiB, which stream through a 64 KiB buffer; the handler's own budget
    /// bounds what bodies cost. Anything in the cluster can connect, so connections are capped
    /// at 128 (each TLS session holds its record buffers too).
    pub(crate) const WEBHOOK: Self = Self {
        connections: 128,
        header_bytes: 64 << 10,
        headers: 32,
        header_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(10),
        user_timeout: Duration::from_secs(10),
    };

    /// Sets the socket options on an accepted connection.
    pub(super) fn apply(&self, stream: &TcpStream) {
        let _ = stream.set_nodelay(true);
        if let Err(e) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(self.user_timeout)) {
            tracing::debug!("cannot set TCP_USER_TIMEOUT: {e}");
        }
    }

    /// The HTTP/1 settings for a connection.
    pub(super) fn http1(&self) -> hyper::server::conn::http1::Builder {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_buf_size(self.header_bytes.max(8 << 10));
        if self.headers != STACK_HEADERS {
            builder.max_headers(self.headers);
        }
        builder
    }
}

/// A connection whose writes fail once one has waited [`Limits::write_timeout`] for the
/// client to take data.
pub(super) struct WriteDeadline<I> {
    inner: I,
    timeout: Duration,
    /// Armed while a write or flush is pending.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<I> WriteDeadline<I> {
    pub(super) fn new(inner: I, timeout: Duration) -> Self {
        Self { inner, timeout, stalled: None }
    }

    /// What a pending write returns: still pending, or an error once the deadline passed.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeout;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took no data for {timeout:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn settle<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => self.pending(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteDeadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.settle(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, data);
        self.settle(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.settle(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.settle(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_takes_fails_at_the_deadline() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut conn = WriteDeadline::new(ours, Duration::from_secs(10));
        let began = tokio::time::Instant::now();
        let error = conn.write_all(&[0; 1024]).await.expect_err("the peer never reads");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(began.elapsed(), Duration::from_secs(10), "paused clock: exactly the deadline");
        let mut some = [0; 64];
        assert_eq!(theirs.read(&mut some).await.expect("read"), 64, "what fitted was sent");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_reader_is_never_cut_off() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut conn = WriteDeadline::new(ours, Duration::from_secs(10));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut chunk = [0; 64];
            while total < 1024 {
                tokio::time::sleep(Duration::from_secs(5)).await;
                total += theirs.read(&mut chunk).await.expect("read");
            }
        });
        conn.write_all(&[0; 1024]).await.expect("each wait is under the deadline");
        reader.await.expect("reader");
    }

    #[test]
    fn every_listener_keeps_hypers_minimum_buffer() {
        for limits in [Limits::METADATA, Limits::ADMIN, Limits::WEBHOOK] {
            assert!(limits.header_bytes >= 8 << 10, "{limits:?}");
            assert!(limits.connections > 0 && limits.headers > 0, "{limits:?}");
        }
    }
}
