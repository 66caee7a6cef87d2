//! Percent-encoding for URLs: what a value substituted into a URL becomes (a `{{key}}` from a
//! feed, a `${VAR}` from the environment), and the decoding of a `file:` URL's path. A leaf:
//! the source stage and the config loader both use it.

/// Percent-encodes everything but the URL's unreserved characters (RFC 3986 §2.3).
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` sequences (for the path of a `file:` URL); invalid sequences stay as written.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_sequences() {
        assert_eq!(percent_decode("a%20b%2Fc%zz%4"), "a b/c%zz%4");
        assert_eq!(percent_decode(&percent_encode("NIFTY 50/é")), "NIFTY 50/é");
    }

    #[test]
    fn encodes_all_but_unreserved_characters() {
        assert_eq!(
            percent_encode("abc123+x&n=5#frag"),
            "abc123%2Bx%26n%3D5%23frag"
        );
        assert_eq!(percent_encode("a-b.c_d~"), "a-b.c_d~");
    }
}
