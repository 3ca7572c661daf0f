//! MD5 content hashes: the one checksum every object store reports, so plans compare by content.
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5 as Md5Hasher};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Md5(pub [u8; 16]);

impl Md5 {
    pub fn of_bytes(bytes: &[u8]) -> Md5 {
        Md5(Md5Hasher::digest(bytes).into())
    }

    /// Hashes a file in 64 KiB reads, so big files never sit in memory.
    pub fn of_file(path: &Path) -> std::io::Result<(Md5, u64)> {
        Md5::copy(&mut std::fs::File::open(path)?, &mut std::io::sink())
    }

    /// Copies `reader` into `writer` in 64 KiB chunks, returning the MD5 and size of what passed through.
    pub fn copy(reader: &mut impl Read, writer: &mut impl Write) -> std::io::Result<(Md5, u64)> {
        let mut hasher = Md5Hasher::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let read = reader.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            size += read as u64;
            hasher.update(&buffer[..read]);
            writer.write_all(&buffer[..read])?;
        }
        Ok((Md5(hasher.finalize().into()), size))
    }

    pub fn to_hex(self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    pub fn to_base64(self) -> String {
        BASE64.encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Md5> {
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok()?;
        }
        Some(Md5(bytes))
    }

    pub fn from_base64(text: &str) -> Option<Md5> {
        BASE64.decode(text).ok()?.try_into().ok().map(Md5)
    }
}

impl fmt::Debug for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5({})", self.to_hex())
    }
}

impl fmt::Display for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Md5 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Md5 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Md5::from_hex(&text).ok_or_else(|| serde::de::Error::custom(format!("not an MD5 in hex: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_hex_and_base64() {
        let md5 = Md5::of_bytes(b"hello world");
        assert_eq!(md5.to_hex(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(Md5::from_hex(&md5.to_hex()), Some(md5));
        assert_eq!(Md5::from_base64(&md5.to_base64()), Some(md5));
        assert_eq!(Md5::from_hex("5eb63bbbe01eeed093cb22bb8f5acdc3-2"), None);
    }
}
