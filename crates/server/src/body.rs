//! A response body made of pieces already in memory, sent with vectored writes.
//!
//! Why not [`axum::body::Body::from`] a `Vec`: the pieces (a response's text around its JSON fragments, and the
//! large fragments themselves, [`maillage_graphql::kit::json::Pieces`]) would first be copied into one buffer. Why
//! not `Body::from_stream`: a stream has no known length, so the response would lose its `Content-Length` and be
//! sent chunked. This body knows its exact length; hyper queues its pieces and writes up to 16 of them with one
//! `writev` (a page of 50 sites and the text around it: one).

use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The pieces of a body, in order, and how many bytes are left to send.
#[derive(Debug)]
pub struct Pieces {
    pieces: VecDeque<Bytes>,
    remaining: u64,
}

impl Pieces {
    /// A body of `pieces`, whose lengths add up to `len` bytes.
    pub fn new(pieces: Vec<Bytes>, len: usize) -> Self {
        debug_assert_eq!(pieces.iter().map(Bytes::len).sum::<usize>(), len);
        Self {
            pieces: pieces.into_iter().filter(|p| !p.is_empty()).collect(),
            remaining: u64::try_from(len).unwrap_or(u64::MAX),
        }
    }
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.pieces.pop_front().map(|piece| {
            self.remaining = self.remaining.saturating_sub(piece.len() as u64);
            Ok(Frame::data(piece))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
