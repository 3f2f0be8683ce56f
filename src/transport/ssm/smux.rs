//! smux v1 frames (github.com/xtaci/smux), which both ends of a
//! multiplexed port session use to carry several TCP connections over the
//! session's one byte stream.
//!
//! A frame is an 8-byte header, little-endian, then a body:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 1 | version, 1 |
//! | 1 | 1 | command: SYN 0, FIN 1, PSH 2, NOP 3 |
//! | 2 | 2 | body length (u16) |
//! | 4 | 4 | stream id (u32) |
//! | 8 | n | body, PSH only |
//!
//! Only PSH carries a body. A receiver reads no body after SYN, FIN or NOP
//! whatever their length field says (smux does the same), so a decoder
//! consumes their header alone. Command 4 (UPD) exists only in smux v2,
//! which neither end speaks; smux ends a session on an unknown version or
//! command, and [`decode`] returns an error for both.
//!
//! The byte stream arrives in Output payloads cut without regard to frame
//! boundaries: [`FrameReader`] gathers them and yields whole frames.

/// The protocol version both ends use.
pub const VERSION: u8 = 1;
/// The size of a frame's header.
pub const HEADER_SIZE: usize = 8;
/// The largest body smux's default configuration sends in one frame (the
/// length field could say up to 65,535).
pub const MAX_FRAME_SIZE: usize = 32_768;

const CMD_SYN: u8 = 0;
const CMD_FIN: u8 = 1;
const CMD_PSH: u8 = 2;
const CMD_NOP: u8 = 3;
const CMD_UPD: u8 = 4;

/// One smux frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Opens a stream (the client's ids are odd, from 3).
    Syn { stream_id: u32 },
    /// Closes a stream altogether (smux has no half-close).
    Fin { stream_id: u32 },
    /// Data for a stream.
    Push { stream_id: u32, data: Vec<u8> },
    /// Keepalive (smux sends it with stream id 0).
    Nop { stream_id: u32 },
}

impl Frame {
    pub fn stream_id(&self) -> u32 {
        match self {
            Frame::Syn { stream_id }
            | Frame::Fin { stream_id }
            | Frame::Push { stream_id, .. }
            | Frame::Nop { stream_id } => *stream_id,
        }
    }

    /// Appends the frame's bytes to `out`. Fails only for a body longer
    /// than the 16-bit length can say; nothing is written then.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), SmuxError> {
        let (command, data): (u8, &[u8]) = match self {
            Frame::Syn { .. } => (CMD_SYN, &[]),
            Frame::Fin { .. } => (CMD_FIN, &[]),
            Frame::Push { data, .. } => (CMD_PSH, data),
            Frame::Nop { .. } => (CMD_NOP, &[]),
        };
        let length = u16::try_from(data.len()).map_err(|_| SmuxError::TooLong(data.len()))?;
        out.reserve(HEADER_SIZE + data.len());
        out.push(VERSION);
        out.push(command);
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&self.stream_id().to_le_bytes());
        out.extend_from_slice(data);
        Ok(())
    }

    /// PSH frames carrying `data` to a stream, each body at most
    /// [`MAX_FRAME_SIZE`] bytes (none for empty data).
    pub fn push_all(stream_id: u32, data: &[u8]) -> impl Iterator<Item = Frame> + '_ {
        data.chunks(MAX_FRAME_SIZE).map(move |chunk| Frame::Push {
            stream_id,
            data: chunk.to_vec(),
        })
    }
}

/// Why bytes are not smux v1 frames. After one, the byte stream cannot be
/// followed any further: the session is over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmuxError {
    #[error("smux frame of version {0}, not 1")]
    Version(u8),
    #[error("smux command 4 (UPD) belongs to smux v2, not the v1 this session speaks")]
    UpdateInV1,
    #[error("unknown smux command {0}")]
    UnknownCommand(u8),
    #[error("a body of {0} bytes is too long for one smux frame")]
    TooLong(usize),
}

/// What [`decode`] found at the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame, the first `consumed` bytes of the buffer.
    Frame { frame: Frame, consumed: usize },
    /// The buffer holds only part of a frame; at least `needed` bytes in
    /// all are required before it can be read.
    NeedMore { needed: usize },
}

/// The frame at the start of `buf`, or how much more is needed. The header
/// is checked as soon as it is whole, so a broken stream is reported
/// without waiting for a body that will never come.
pub fn decode(buf: &[u8]) -> Result<Decoded, SmuxError> {
    let Some(header) = buf.first_chunk::<HEADER_SIZE>() else {
        return Ok(Decoded::NeedMore {
            needed: HEADER_SIZE,
        });
    };
    let [version, command, l0, l1, s0, s1, s2, s3] = *header;
    if version != VERSION {
        return Err(SmuxError::Version(version));
    }
    let stream_id = u32::from_le_bytes([s0, s1, s2, s3]);
    let frame = match command {
        CMD_SYN => Frame::Syn { stream_id },
        CMD_FIN => Frame::Fin { stream_id },
        CMD_NOP => Frame::Nop { stream_id },
        CMD_PSH => {
            let end = HEADER_SIZE + usize::from(u16::from_le_bytes([l0, l1]));
            let Some(data) = buf.get(HEADER_SIZE..end) else {
                return Ok(Decoded::NeedMore { needed: end });
            };
            return Ok(Decoded::Frame {
                frame: Frame::Push {
                    stream_id,
                    data: data.to_vec(),
                },
                consumed: end,
            });
        }
        CMD_UPD => return Err(SmuxError::UpdateInV1),
        other => return Err(SmuxError::UnknownCommand(other)),
    };
    Ok(Decoded::Frame {
        frame,
        consumed: HEADER_SIZE,
    })
}

/// Gathers the session's byte stream, in pieces of any size, and yields
/// the frames in it.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Where the unread bytes of `buf` start.
    start: usize,
}

impl FrameReader {
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Adds the next piece of the byte stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        // Drop what was read before growing, so the buffer stays about one
        // frame long.
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` until one has arrived. An error stays:
    /// every later call returns it again.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SmuxError> {
        match decode(&self.buf[self.start..])? {
            Decoded::Frame { frame, consumed } => {
                self.start += consumed;
                Ok(Some(frame))
            }
            Decoded::NeedMore { .. } => Ok(None),
        }
    }

    /// How many bytes wait for the rest of their frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut out = Vec::new();
        frame.encode(&mut out).expect("encode");
        out
    }

    #[test]
    fn headers_are_little_endian_with_length_before_stream_id() {
        // version 1, PSH, length 3 (03 00), stream 3 (03 00 00 00), "abc".
        assert_eq!(
            encoded(&Frame::Push {
                stream_id: 3,
                data: b"abc".to_vec()
            }),
            [1, 2, 3, 0, 3, 0, 0, 0, b'a', b'b', b'c']
        );
        // A stream id and length that tell the byte orders apart.
        let data = vec![0x5a; 0x0102];
        let bytes = encoded(&Frame::Push {
            stream_id: 0x0A0B_0C0D,
            data,
        });
        assert_eq!(&bytes[..8], &[1, 2, 0x02, 0x01, 0x0D, 0x0C, 0x0B, 0x0A]);
        assert_eq!(bytes.len(), 8 + 0x0102);
    }

    #[test]
    fn control_frames_have_no_body() {
        assert_eq!(
            encoded(&Frame::Syn { stream_id: 3 }),
            [1, 0, 0, 0, 3, 0, 0, 0]
        );
        assert_eq!(
            encoded(&Frame::Fin { stream_id: 5 }),
            [1, 1, 0, 0, 5, 0, 0, 0]
        );
        assert_eq!(
            encoded(&Frame::Nop { stream_id: 0 }),
            [1, 3, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn round_trips() {
        let frames = [
            Frame::Syn { stream_id: 3 },
            Frame::Push {
                stream_id: 3,
                data: b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            },
            Frame::Push {
                stream_id: 5,
                data: Vec::new(),
            },
            Frame::Push {
                stream_id: u32::MAX,
                data: vec![7; usize::from(u16::MAX)],
            },
            Frame::Nop { stream_id: 0 },
            Frame::Fin { stream_id: 3 },
        ];
        for frame in frames {
            let bytes = encoded(&frame);
            assert_eq!(
                decode(&bytes),
                Ok(Decoded::Frame {
                    frame,
                    consumed: bytes.len()
                })
            );
        }
    }

    #[test]
    fn a_body_longer_than_the_length_field_is_refused() {
        let mut out = vec![9];
        let frame = Frame::Push {
            stream_id: 3,
            data: vec![0; 65_536],
        };
        assert_eq!(frame.encode(&mut out), Err(SmuxError::TooLong(65_536)));
        assert_eq!(out, [9], "nothing written");
    }

    #[test]
    fn push_all_cuts_at_the_default_frame_size() {
        let data = vec![1u8; MAX_FRAME_SIZE * 2 + 10];
        let sizes: Vec<usize> = Frame::push_all(7, &data)
            .map(|f| match f {
                Frame::Push { stream_id: 7, data } => data.len(),
                other => panic!("not a push to 7: {other:?}"),
            })
            .collect();
        assert_eq!(sizes, [MAX_FRAME_SIZE, MAX_FRAME_SIZE, 10]);
        assert_eq!(Frame::push_all(7, &[]).count(), 0);
    }

    #[test]
    fn partial_frames_need_more() {
        let bytes = encoded(&Frame::Push {
            stream_id: 3,
            data: b"hello".to_vec(),
        });
        assert_eq!(decode(&[]), Ok(Decoded::NeedMore { needed: 8 }));
        assert_eq!(decode(&bytes[..7]), Ok(Decoded::NeedMore { needed: 8 }));
        assert_eq!(decode(&bytes[..8]), Ok(Decoded::NeedMore { needed: 13 }));
        assert_eq!(decode(&bytes[..12]), Ok(Decoded::NeedMore { needed: 13 }));
    }

    #[test]
    fn a_control_frame_length_is_not_skipped() {
        // A SYN claiming 4 body bytes, then a NOP: smux reads no body after
        // SYN, so the NOP is the next frame.
        let bytes = [1, 0, 4, 0, 3, 0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            decode(&bytes),
            Ok(Decoded::Frame {
                frame: Frame::Syn { stream_id: 3 },
                consumed: 8
            })
        );
        assert_eq!(
            decode(&bytes[8..]),
            Ok(Decoded::Frame {
                frame: Frame::Nop { stream_id: 0 },
                consumed: 8
            })
        );
    }

    #[test]
    fn bad_headers_are_errors_as_soon_as_the_header_is_whole() {
        assert_eq!(
            decode(&[2, 2, 0xff, 0xff, 3, 0, 0, 0]),
            Err(SmuxError::Version(2))
        );
        assert_eq!(
            decode(&[0, 0, 0, 0, 0, 0, 0, 0]),
            Err(SmuxError::Version(0))
        );
        assert_eq!(
            decode(&[1, 4, 8, 0, 3, 0, 0, 0]),
            Err(SmuxError::UpdateInV1)
        );
        assert_eq!(
            decode(&[1, 5, 0, 0, 3, 0, 0, 0]),
            Err(SmuxError::UnknownCommand(5))
        );
        assert_eq!(
            decode(&[1, 0xff, 0, 0, 3, 0, 0, 0]),
            Err(SmuxError::UnknownCommand(0xff))
        );
        // Too short to judge yet.
        assert_eq!(decode(&[9, 9, 9]), Ok(Decoded::NeedMore { needed: 8 }));
    }

    #[test]
    fn the_reader_reassembles_frames_cut_anywhere() {
        let frames = vec![
            Frame::Syn { stream_id: 3 },
            Frame::Push {
                stream_id: 3,
                data: (0..=255u8).cycle().take(3000).collect(),
            },
            Frame::Push {
                stream_id: 5,
                data: b"x".to_vec(),
            },
            Frame::Fin { stream_id: 3 },
        ];
        let mut stream = Vec::new();
        for frame in &frames {
            frame.encode(&mut stream).expect("encode");
        }
        // Cut as the agent does (at most 1,024 bytes a message), and at
        // every small size, so that each boundary lands mid-header and
        // mid-body somewhere.
        for piece in [1, 2, 3, 7, 8, 9, 100, 1024, stream.len()] {
            let mut reader = FrameReader::new();
            let mut got = Vec::new();
            for chunk in stream.chunks(piece) {
                reader.extend(chunk);
                while let Some(frame) = reader.next_frame().expect("valid stream") {
                    got.push(frame);
                }
            }
            assert_eq!(got, frames, "pieces of {piece}");
            assert_eq!(reader.pending(), 0);
        }
    }

    #[test]
    fn the_reader_keeps_reporting_a_broken_stream() {
        let mut reader = FrameReader::new();
        reader.extend(&[1, 3, 0, 0, 0, 0, 0, 0, 7, 2, 0, 0]);
        assert_eq!(reader.next_frame(), Ok(Some(Frame::Nop { stream_id: 0 })));
        assert_eq!(reader.next_frame(), Ok(None), "half a header");
        reader.extend(&[3, 0, 0, 0]);
        assert_eq!(reader.next_frame(), Err(SmuxError::Version(7)));
        assert_eq!(reader.next_frame(), Err(SmuxError::Version(7)));
        assert_eq!(reader.pending(), 8);
    }
}
