//! Finds where a chunked body (RFC 9112 §7.1) ends without decoding it, so the fast path can
//! relay the upstream's chunked bytes verbatim and still know when the response is complete
//! (and the connection reusable). Strict: CRLF line ends, hex sizes, no size overflow; anything
//! else is an error and the connection is dropped, not guessed at.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size (`digits` so far).
    Size {
        size: u64,
        digits: u8,
    },
    /// After the size: an extension (`;...`) or whitespace until CR.
    Ext {
        size: u64,
    },
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// Start of a trailer line, or of the final empty line.
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked encoding in the upstream response")]
pub struct ChunkError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkScanner {
    state: State,
}

impl Default for ChunkScanner {
    fn default() -> Self {
        ChunkScanner {
            state: State::Size { size: 0, digits: 0 },
        }
    }
}

impl ChunkScanner {
    /// Consumes the next bytes of the body. `Some(n)`: the body ends after the first `n` bytes
    /// of `data` (what follows is not part of it); `None`: all of `data` belongs to the body
    /// and more is to come.
    pub fn scan(&mut self, data: &[u8]) -> Result<Option<usize>, ChunkError> {
        let mut i = 0;
        while i < data.len() {
            if let State::Data { left } = self.state {
                let take = left.min((data.len() - i) as u64);
                i += take as usize;
                self.state = if take == left {
                    State::DataCr
                } else {
                    State::Data { left: left - take }
                };
                continue;
            }
            let b = data[i];
            i += 1;
            self.state = match (self.state, b) {
                (State::Size { size, digits }, _) if b.is_ascii_hexdigit() => {
                    if digits >= 15 {
                        return Err(ChunkError);
                    }
                    let d = (b as char).to_digit(16).unwrap_or(0);
                    State::Size {
                        size: size * 16 + u64::from(d),
                        digits: digits + 1,
                    }
                }
                (State::Size { size, digits }, b';' | b' ' | b'\t') if digits > 0 => {
                    State::Ext { size }
                }
                (State::Size { size, digits }, b'\r') if digits > 0 => State::SizeLf { size },
                (State::Ext { size }, b'\r') => State::SizeLf { size },
                (State::Ext { .. }, b'\n') => return Err(ChunkError),
                (State::Ext { size }, _) => State::Ext { size },
                (State::SizeLf { size: 0 }, b'\n') => State::TrailerStart,
                (State::SizeLf { size }, b'\n') => State::Data { left: size },
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataLf, b'\n') => State::Size { size: 0, digits: 0 },
                (State::TrailerStart, b'\r') => State::EndLf,
                (State::TrailerStart | State::Trailer, b'\n') => return Err(ChunkError),
                (State::Trailer, b'\r') => State::TrailerLf,
                (State::TrailerStart | State::Trailer, _) => State::Trailer,
                (State::TrailerLf, b'\n') => State::TrailerStart,
                (State::EndLf, b'\n') => {
                    self.state = State::Done;
                    return Ok(Some(i));
                }
                _ => return Err(ChunkError),
            };
        }
        Ok(None)
    }

    #[cfg(test)]
    pub fn done(&self) -> bool {
        self.state == State::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(body: &[u8]) -> Result<Option<usize>, ChunkError> {
        ChunkScanner::default().scan(body)
    }

    #[test]
    fn a_body_ends_after_the_last_chunk_and_its_blank_line() {
        let body = b"5\r\nhello\r\n0\r\n\r\nNEXT";
        assert_eq!(whole(body), Ok(Some(body.len() - 4)));
    }

    #[test]
    fn extensions_trailers_and_uppercase_hex_are_accepted() {
        let body = b"A;name=v\r\n0123456789\r\n1F \r\n0123456789abcdef0123456789abcde\r\n0;x\r\nX-T: 1\r\nY: 2\r\n\r\n";
        assert_eq!(whole(body), Ok(Some(body.len())));
    }

    #[test]
    fn every_split_of_the_input_gives_the_same_end() {
        let body = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
        for cut in 0..body.len() {
            let mut s = ChunkScanner::default();
            assert_eq!(s.scan(&body[..cut]), Ok(None), "cut {cut}");
            assert_eq!(
                s.scan(&body[cut..]),
                Ok(Some(body.len() - cut)),
                "cut {cut}"
            );
            assert!(s.done());
        }
    }

    #[test]
    fn byte_at_a_time_finds_the_end_at_the_last_byte() {
        let body = b"2\r\nok\r\n0\r\n\r\n";
        let mut s = ChunkScanner::default();
        for (i, b) in body.iter().enumerate() {
            let r = s.scan(std::slice::from_ref(b));
            assert_eq!(r, Ok((i == body.len() - 1).then_some(1)), "byte {i}");
        }
    }

    #[test]
    fn malformed_framing_is_an_error() {
        for bad in [
            &b"\r\n"[..],
            b"g\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\rX",
            b"1234567890abcdef0\r\n",
            b"0\r\nX\n",
            b"0\r\n\n",
            b"5;ext\n",
        ] {
            assert_eq!(
                whole(bad),
                Err(ChunkError),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_huge_declared_chunk_is_followed_without_buffering() {
        let mut s = ChunkScanner::default();
        assert_eq!(s.scan(b"fffffff\r\n"), Ok(None));
        let block = vec![b'x'; 1 << 20];
        for _ in 0..255 {
            assert_eq!(s.scan(&block), Ok(None));
        }
        assert!(!s.done());
    }
}
