//! Byte-level damage to an encoded message.

use super::*;

/// One change to an encoded message.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    Flip(Index, u8),
    Overwrite(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Truncate(Index),
    /// A varint of up to 10 bytes (a length or size claiming up to 2^64).
    Varint(Index, u64),
    /// A slice of the message copied elsewhere in it.
    Splice(Index, Index, usize),
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (
            any::<Index>(),
            prop_oneof![Just(u64::MAX), Just(u32::MAX as u64), Just(1 << 31), any::<u64>()],
        )
            .prop_map(|(i, v)| Mutation::Varint(i, v)),
        1 => (any::<Index>(), any::<Index>(), 1usize..64)
            .prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

pub(crate) fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match m {
        Mutation::Flip(i, bit) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                bytes[i] ^= 1 << bit;
            }
        }
        Mutation::Overwrite(i, b) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                bytes[i] = *b;
            }
        }
        Mutation::Insert(i, b) => {
            let i = at(i, bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Remove(i, n) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
        }
        Mutation::Truncate(i) => bytes.truncate(at(i, bytes.len() + 1)),
        Mutation::Varint(i, v) => {
            let mut varint = Vec::new();
            prost::encoding::encode_varint(*v, &mut varint);
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                let end = (i + varint.len()).min(bytes.len());
                bytes.splice(i..end, varint);
            }
        }
        Mutation::Splice(from, to, n) => {
            if !bytes.is_empty() {
                let from = at(from, bytes.len());
                let piece: Vec<u8> = bytes[from..(from + n).min(bytes.len())].to_vec();
                let to = at(to, bytes.len() + 1);
                bytes.splice(to..to, piece);
            }
        }
    }
}
