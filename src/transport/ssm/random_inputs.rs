//! The decoders' promise, checked on every `cargo test`: whatever bytes
//! come off the websocket, a decoder returns a value or an error and never
//! panics. A few thousand random and mutated inputs from a fixed seed (the
//! cargo fuzz targets in `fuzz/` search much further).

use super::message::{Message, MessageType, PayloadType};
use super::smux::{Decoded, Frame, FrameReader, SmuxError, decode};

/// xorshift64*: enough randomness for inputs, the same on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }

    /// `input` with a few bytes changed, cut or added.
    fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..=self.below(4) {
            match self.below(5) {
                0 if !out.is_empty() => {
                    let at = self.below(out.len());
                    out[at] = self.byte();
                }
                1 if !out.is_empty() => {
                    let at = self.below(out.len());
                    out[at] ^= 1 << self.below(8);
                }
                2 => out.truncate(self.below(out.len() + 1)),
                3 => {
                    let len = self.below(16);
                    let extra = self.bytes(len);
                    out.extend(extra);
                }
                _ => {
                    // A header field rewritten whole: lengths, types.
                    if out.len() >= 120 {
                        let at = [0, 4, 112, 116][self.below(4)];
                        let value = self.bytes(4);
                        out[at..at + 4].copy_from_slice(&value);
                    }
                }
            }
        }
        out
    }
}

fn valid_message(random: &mut Random) -> Vec<u8> {
    let len = random.below(300);
    let message = Message {
        message_type: MessageType::ALL[random.below(MessageType::ALL.len())],
        schema_version: 1,
        created_date: random.next(),
        sequence_number: i64::from_le_bytes(random.next().to_le_bytes()),
        flags: random.next() % 4,
        message_id: uuid::Uuid::from_u64_pair(random.next(), random.next()),
        payload_type: Some(PayloadType::ALL[random.below(PayloadType::ALL.len())]),
        payload: random.bytes(len),
    };
    message.encode().expect("encode")
}

#[test]
fn the_message_decoder_never_panics() {
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let (mut decoded, mut refused) = (0, 0);
    for round in 0..4000 {
        let input = match round % 3 {
            0 => {
                let len = random.below(400);
                random.bytes(len)
            }
            1 => valid_message(&mut random),
            _ => {
                let valid = valid_message(&mut random);
                random.mutate(&valid)
            }
        };
        match Message::decode(&input) {
            Ok(message) => {
                decoded += 1;
                // What decodes encodes back to the same bytes, but for the
                // type's padding (spaces or NULs) and the unchecked digest
                // of an empty payload.
                let again = message.encode().expect("encode");
                assert_eq!(again.len(), input.len());
                assert_eq!(again[..4], input[..4]);
                let digest_checked = !message.payload.is_empty();
                let end = if digest_checked { 80 + 32 } else { 80 };
                assert_eq!(again[36..end], input[36..end]);
                assert_eq!(again[112..], input[112..]);
                assert_eq!(Message::decode(&again).as_ref(), Ok(&message));
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Both outcomes were exercised, not just one.
    assert!(decoded > 1000, "decoded {decoded}");
    assert!(refused > 1000, "refused {refused}");
}

#[test]
fn the_smux_decoder_never_panics() {
    let mut random = Random(0x0123_4567_89AB_CDEF);
    let (mut frames, mut errors) = (0, 0);
    for round in 0..3000 {
        let mut stream = Vec::new();
        for _ in 0..random.below(6) {
            let stream_id = u32::try_from(random.next() >> 40).unwrap_or(3);
            let frame = match random.below(4) {
                0 => Frame::Syn { stream_id },
                1 => Frame::Fin { stream_id },
                2 => Frame::Nop { stream_id },
                _ => {
                    let len = random.below(200);
                    Frame::Push {
                        stream_id,
                        data: random.bytes(len),
                    }
                }
            };
            frame.encode(&mut stream).expect("encode");
        }
        let input = match round % 3 {
            0 => {
                let len = random.below(100);
                let mut bytes = random.bytes(len);
                // Mostly version 1, so that commands and lengths are reached.
                if let Some(first) = bytes.first_mut() {
                    *first = if random.below(4) == 0 { *first } else { 1 };
                }
                bytes
            }
            1 => stream,
            _ => random.mutate(&stream),
        };
        let (whole, whole_error) = read_whole(&input);
        let (pieces, piece_error) = read_in_pieces(&input, |n| 1 + random.below(n));
        assert_eq!(pieces, whole);
        assert_eq!(piece_error, whole_error);
        frames += whole.len();
        errors += usize::from(whole_error.is_some());
    }
    assert!(frames > 1000, "frames {frames}");
    assert!(errors > 100, "errors {errors}");
}

/// The frames at the start of `input`, read with [`decode`], and the error
/// that stopped them, if one did.
fn read_whole(input: &[u8]) -> (Vec<Frame>, Option<SmuxError>) {
    let mut frames = Vec::new();
    let mut rest = input;
    loop {
        match decode(rest) {
            Ok(Decoded::Frame { frame, consumed }) => {
                assert!(consumed >= 8 && consumed <= rest.len());
                // A frame encodes back to its bytes, but for the length
                // field of a control frame, which receivers ignore.
                let mut again = Vec::new();
                frame.encode(&mut again).expect("encode");
                assert_eq!(again.len(), consumed);
                assert_eq!(again[..2], rest[..2]);
                assert_eq!(again[4..], rest[4..consumed]);
                if matches!(frame, Frame::Push { .. }) {
                    assert_eq!(again[2..4], rest[2..4]);
                }
                frames.push(frame);
                rest = &rest[consumed..];
            }
            Ok(Decoded::NeedMore { needed }) => {
                assert!(needed > rest.len());
                return (frames, None);
            }
            Err(e) => return (frames, Some(e)),
        }
    }
}

/// The same through a [`FrameReader`] fed pieces of the sizes `cut` picks
/// (given how many bytes are left).
fn read_in_pieces(
    input: &[u8],
    mut cut: impl FnMut(usize) -> usize,
) -> (Vec<Frame>, Option<SmuxError>) {
    let mut reader = FrameReader::new();
    let mut frames = Vec::new();
    let mut left = input;
    while !left.is_empty() {
        let (piece, later) = left.split_at(cut(left.len()).clamp(1, left.len()));
        left = later;
        reader.extend(piece);
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

/// Every file in `fuzz/DIR/TARGET` (seeds, and the inputs cargo fuzz found
/// and kept), for both targets.
fn fuzz_inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|n| n == ".keep") {
                continue;
            }
            inputs.push((
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
    inputs
}

#[test]
fn the_fuzz_seeds_and_regressions_decode_without_panicking() {
    let messages = fuzz_inputs("ssm_message");
    assert!(messages.len() >= 5, "seeds in fuzz/seeds/ssm_message");
    for (name, input) in &messages {
        if let Ok(message) = Message::decode(input) {
            let again = message.encode().expect("encode");
            assert_eq!(Message::decode(&again).as_ref(), Ok(&message), "{name}");
        }
    }
    // The seeds are valid messages, one of each kind the client reads.
    let seeds: Vec<_> = messages
        .iter()
        .filter(|(n, _)| n.contains("/seeds/"))
        .collect();
    for (name, input) in &seeds {
        assert!(Message::decode(input).is_ok(), "{name}");
    }
    let streams = fuzz_inputs("smux");
    assert!(streams.len() >= 3, "seeds in fuzz/seeds/smux");
    for (name, input) in &streams {
        let (whole, whole_error) = read_whole(input);
        let (pieces, piece_error) = read_in_pieces(input, |_| 3);
        assert_eq!(pieces, whole, "{name}");
        assert_eq!(piece_error, whole_error, "{name}");
        if name.contains("/seeds/") {
            assert!(whole_error.is_none() && !whole.is_empty(), "{name}");
        }
    }
}
