//! The one font charts use, embedded in the binary: DejaVu Sans, subset to Latin-1 and a few
//! symbols (`assets/fonts/`, 17 KB; licence beside it). plotters' `ab_glyph` text reads fonts
//! registered by family name only, so it is registered once, as `sans-serif`, before the first
//! chart; no system font or fontconfig is ever looked for.

use std::sync::Once;

/// The font file (DejaVu Sans, subset; Bitstream Vera licence, `assets/fonts/LICENSE-DejaVu.txt`).
pub static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");

/// The family name charts ask for.
pub const FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters, once per process.
pub fn register() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are fixed at build time and parsed by a test: this cannot fail at run time.
        plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, DEJAVU_SANS)
            .unwrap_or_else(|_| panic!("the embedded chart font does not parse"));
    });
}
