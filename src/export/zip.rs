//! A zip archive with its entries stored, not compressed: model weights do not compress, and
//! every unzip tool reads stored entries. Written here (about fifty lines with `crc32fast`)
//! rather than with the `zip` crate, which brings nine crates to a wasm build for this.

use crate::error::{BertError, Result};

/// Entries' date and time in MS-DOS form: 1980-01-01 00:00, the format's first day.
const DOS_DATE: u16 = (1 << 5) | 1;
/// "Version needed to extract" 2.0, and bit 11 of the flags: names are UTF-8.
const VERSION: u16 = 20;
const UTF8_NAMES: u16 = 1 << 11;

/// The archive of `files` (path inside it, bytes), in order. Refused past 4 GiB (zip64 would
/// be needed).
pub fn stored(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let too_big = || BertError::Internal("the export is past 4 GiB, more than a zip holds".into());
    let u32_of = |n: usize| u32::try_from(n).map_err(|_| too_big());
    let u16_of = |n: usize| {
        u16::try_from(n)
            .map_err(|_| BertError::Internal("too many files or too long a name".into()))
    };
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, bytes) in files {
        let offset = u32_of(out.len())?;
        let crc = crc32fast::hash(bytes);
        let size = u32_of(bytes.len())?;
        let name_len = u16_of(name.len())?;
        // The fields both headers share, from "version needed" to the name's length.
        let mut common = Vec::new();
        for v in [VERSION, UTF8_NAMES, 0, 0, DOS_DATE] {
            common.extend(v.to_le_bytes());
        }
        for v in [crc, size, size] {
            common.extend(v.to_le_bytes());
        }
        common.extend(name_len.to_le_bytes());
        common.extend(0u16.to_le_bytes()); // no extra field

        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend(&common);
        out.extend(name.as_bytes());
        out.extend(bytes);

        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(VERSION.to_le_bytes()); // made by
        central.extend(&common);
        for v in [0u16, 0, 0] {
            central.extend(v.to_le_bytes()); // comment length, disk, internal attributes
        }
        central.extend(0u32.to_le_bytes()); // external attributes
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let central_offset = u32_of(out.len())?;
    let central_size = u32_of(central.len())?;
    let entries = u16_of(files.len())?;
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, entries, entries] {
        out.extend(v.to_le_bytes());
    }
    out.extend(central_size.to_le_bytes());
    out.extend(central_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes()); // comment length
    u32_of(out.len())?;
    Ok(out)
}
