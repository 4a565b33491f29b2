//! `attach`: the client's frames to the monitor's socket, and the detach key sequence.
//!
//! Client → monitor: frames `[kind u8][length u16 BE][payload]`, kind `d` (input bytes)
//! or `w` (window size: rows, columns as u16 BE). Monitor → client: the raw terminal
//! output. The detach sequence (podman's default, ctrl-p ctrl-q) is taken out of the
//! input on the client side; the monitor never sees it.

use crate::pty::Size;

/// ctrl-p.
const CTRL_P: u8 = 0x10;
/// ctrl-q.
const CTRL_Q: u8 = 0x11;

/// One message from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Keyboard input.
    Input(Vec<u8>),
    /// The client's window size changed.
    Resize(Size),
}

impl Frame {
    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload) = match self {
            Frame::Input(b) => (b'd', b.clone()),
            Frame::Resize(s) => (b'w', [s.rows.to_be_bytes(), s.cols.to_be_bytes()].concat()),
        };
        let mut out = Vec::with_capacity(3 + payload.len());
        for piece in payload.chunks(u16::MAX as usize) {
            out.push(kind);
            out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            out.extend_from_slice(piece);
        }
        out
    }
}

/// Reassembles frames from a byte stream.
#[derive(Debug, Default)]
pub struct FrameReader {
    pending: Vec<u8>,
}

impl FrameReader {
    /// Adds received bytes; returns the frames now complete (unknown kinds are skipped).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.pending.extend_from_slice(bytes);
        let mut frames = Vec::new();
        loop {
            if self.pending.len() < 3 {
                break;
            }
            let len = u16::from_be_bytes([self.pending[1], self.pending[2]]) as usize;
            if self.pending.len() < 3 + len {
                break;
            }
            let payload = self.pending[3..3 + len].to_vec();
            match self.pending[0] {
                b'd' => frames.push(Frame::Input(payload)),
                b'w' if len == 4 => frames.push(Frame::Resize(Size {
                    rows: u16::from_be_bytes([payload[0], payload[1]]),
                    cols: u16::from_be_bytes([payload[2], payload[3]]),
                })),
                _ => {}
            }
            self.pending.drain(..3 + len);
        }
        frames
    }
}

/// Finds the detach sequence (ctrl-p ctrl-q) in keyboard input, across reads.
#[derive(Debug, Default)]
pub struct DetachKeys {
    held: bool,
}

impl DetachKeys {
    /// Filters one read of input: the bytes to send on, and whether the user detached
    /// (the bytes before the sequence are still to be sent). A ctrl-p not followed by
    /// ctrl-q is passed on with the next byte.
    pub fn filter(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.held {
                self.held = false;
                if b == CTRL_Q {
                    return (out, true);
                }
                out.push(CTRL_P);
            }
            if b == CTRL_P {
                self.held = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_split() {
        let wire = [
            Frame::Input(b"ls\r".to_vec()).encode(),
            Frame::Resize(Size {
                rows: 40,
                cols: 120,
            })
            .encode(),
        ]
        .concat();
        let mut r = FrameReader::default();
        let mut got = Vec::new();
        for byte in &wire {
            got.extend(r.push(std::slice::from_ref(byte)));
        }
        assert_eq!(
            got,
            [
                Frame::Input(b"ls\r".to_vec()),
                Frame::Resize(Size {
                    rows: 40,
                    cols: 120
                })
            ]
        );
    }

    #[test]
    fn ctrl_p_ctrl_q_detaches_even_across_reads() {
        let mut k = DetachKeys::default();
        assert_eq!(k.filter(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(k.filter(b"\x11rest"), (Vec::new(), true));
        let mut k = DetachKeys::default();
        // ctrl-p alone is typed on (shells use it for history).
        assert_eq!(k.filter(b"\x10x"), (b"\x10x".to_vec(), false));
    }
}
