//! The smux v1 decoder (a port session's multiplexed byte stream): any
//! bytes, whole or cut into pieces, give frames and then at most an error,
//! never a panic; the two ways of reading agree; every frame read encodes
//! back to the bytes it came from (a control frame's ignored length field
//! aside).
#![no_main]

use berth::transport::ssm::smux::{Decoded, Frame, FrameReader, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the size of the pieces the reader is fed.
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let mut whole = Vec::new();
    let mut rest = stream;
    let whole_error = loop {
        match decode(rest) {
            Ok(Decoded::Frame { frame, consumed }) => {
                assert!(consumed >= 8 && consumed <= rest.len());
                let mut again = Vec::new();
                frame.encode(&mut again).expect("a decoded frame encodes");
                assert_eq!(again.len(), consumed);
                assert_eq!(again[..2], rest[..2]);
                assert_eq!(again[4..], rest[4..consumed]);
                if matches!(frame, Frame::Push { .. }) {
                    assert_eq!(again[2..4], rest[2..4]);
                }
                whole.push(frame);
                rest = &rest[consumed..];
            }
            Ok(Decoded::NeedMore { needed }) => {
                assert!(needed > rest.len());
                break None;
            }
            Err(e) => break Some(e),
        }
    };

    let mut reader = FrameReader::new();
    let mut pieces = Vec::new();
    let mut piece_error = None;
    'feed: for chunk in stream.chunks(usize::from(piece.max(1))) {
        reader.extend(chunk);
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => pieces.push(frame),
                Ok(None) => break,
                Err(e) => {
                    piece_error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(pieces, whole);
    assert_eq!(piece_error, whole_error);
});
