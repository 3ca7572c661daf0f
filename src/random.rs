//! Random names: temporary files, output delimiters, lock holder ids. A leaf every floor may use.

/// 32 random hex digits (128 bits) from the operating system.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
