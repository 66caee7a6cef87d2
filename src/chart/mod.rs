//! Price charts, as PNG or SVG: per series a panel with the value as a line, the low–high band
//! shaded behind it, and the alert firings marked, time on the x axis in a chosen zone. Used by
//! `stockrun chart` and by the chart in the e-mail (`notify.chart`); the `serve` page can use it
//! too.
//!
//! A leaf: it draws what it is given ([`ChartData`]) and knows nothing of stores, ledgers or
//! pipelines (gathering the data is `runtime::chart`'s job). Text uses the embedded font
//! ([`font`]), never a system font, so it draws the same on Lambda and on a bare machine.

mod draw;
pub mod font;
mod thin;
mod ticks;

use chrono::{DateTime, Utc};

/// What a chart shows: one panel per series, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartData {
    /// The series, one panel each (top to bottom).
    pub series: Vec<Series>,
    /// The name of the field drawn as the line, such as `price` (in each panel's caption).
    pub value: String,
    /// The names of the fields drawn as the band, low then high, when there is a band.
    pub band: Option<(String, String)>,
}

/// One series (one partition key value, such as `INFY`): its points and its alerts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The series' name, such as `INFY` (the panel's caption).
    pub name: String,
    /// The points, in time order.
    pub points: Vec<Point>,
    /// The alerts raised for this series, in time order.
    pub markers: Vec<Marker>,
}

/// One record of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// When (the record's time).
    pub at: DateTime<Utc>,
    /// The value drawn as the line.
    pub value: f64,
    /// The band's low and high at that time, when the record has both.
    pub band: Option<(f64, f64)>,
}

/// An alert on the time axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// When it was raised (the record's time).
    pub at: DateTime<Utc>,
    /// Whether the rule fired or re-armed.
    pub kind: MarkerKind,
    /// The rule's name.
    pub rule: String,
}

/// What an alert marker stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    /// The rule fired: a red triangle pointing up.
    Fired,
    /// The rule re-armed ("back to normal"): a green triangle pointing down.
    Resolved,
}

/// The image format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// PNG (what e-mail clients show: Gmail strips SVG).
    #[default]
    Png,
    /// SVG.
    Svg,
}

impl Format {
    /// The format a file name's extension names (`.png`, `.svg`, any case), if any.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "png" => Some(Format::Png),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }
}

/// How to draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// PNG or SVG.
    pub format: Format,
    /// The image's width in pixels.
    pub width: u32,
    /// The height of one panel in pixels (the image is this times the number of series).
    pub panel_height: u32,
    /// The zone the time axis is labelled in.
    pub timezone: chrono_tz::Tz,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            format: Format::Png,
            width: DEFAULT_WIDTH,
            panel_height: DEFAULT_PANEL_HEIGHT,
            timezone: chrono_tz::UTC,
        }
    }
}

/// The default image width (`stockrun chart`).
pub const DEFAULT_WIDTH: u32 = 1000;
/// The default height of one panel (`stockrun chart`).
pub const DEFAULT_PANEL_HEIGHT: u32 = 320;
/// The least width and panel height that leave room for the axes and labels.
pub const MIN_SIZE: u32 = 200;
/// The greatest width and panel height (a 4000 × 4000 RGB buffer is 48 MB).
pub const MAX_SIZE: u32 = 4000;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The size is outside [`MIN_SIZE`]..=[`MAX_SIZE`], or the image would be too tall.
    #[error("chart size {width}×{height} is outside {MIN_SIZE}..={MAX_SIZE} pixels per side")]
    Size {
        /// The width asked for.
        width: u32,
        /// The height it would have.
        height: u32,
    },
    /// Drawing failed (plotters' message).
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    /// Encoding the PNG failed.
    #[error("cannot encode the PNG: {0}")]
    Encode(String),
}

/// Draws `data` and returns the image's bytes (a PNG file or an SVG document).
pub fn render(data: &ChartData, options: &Options) -> Result<Vec<u8>, ChartError> {
    let panels = u32::try_from(data.series.len().max(1)).unwrap_or(u32::MAX);
    let height = options.panel_height.saturating_mul(panels);
    let in_range = |side: u32| (MIN_SIZE..=MAX_SIZE).contains(&side);
    if !in_range(options.width)
        || !in_range(options.panel_height)
        || height > MAX_SIZE.saturating_mul(4)
    {
        return Err(ChartError::Size {
            width: options.width,
            height,
        });
    }
    font::register();
    let size = (options.width, height);
    match options.format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let backend = plotters::backend::SVGBackend::with_string(&mut svg, size);
                draw::panels(backend, data, options)?;
            }
            Ok(svg.into_bytes())
        }
        Format::Png => {
            let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
            {
                let backend = plotters::backend::BitMapBackend::with_buffer(&mut rgb, size);
                draw::panels(backend, data, options)?;
            }
            png(&rgb, size)
        }
    }
}

/// `rgb` (8-bit RGB rows of `size`) as a PNG file.
fn png(rgb: &[u8], (width, height): (u32, u32)) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::with_capacity(rgb.len() / 20);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let encode = |e: png::EncodingError| ChartError::Encode(e.to_string());
    let mut writer = encoder.write_header().map_err(encode)?;
    writer.write_image_data(rgb).map_err(encode)?;
    writer.finish().map_err(encode)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
