//! Choosing a camera mode (pixel format, size, frame rate) that delivers the configured
//! picture, for both V4L2 backends.

use std::fmt;

/// The camera pixel formats Cuebox can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PixelFormat {
    Yuyv,
    Nv12,
    Mjpeg,
}

impl PixelFormat {
    /// Raw formats need no decoding, so they are preferred when the camera offers them at the
    /// wanted size and rate.
    fn is_raw(self) -> bool {
        !matches!(self, PixelFormat::Mjpeg)
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Mjpeg => "MJPEG",
        })
    }
}

/// Frames per second as a fraction (V4L2 and GStreamer both speak fractions; 30000/1001 is
/// common).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    pub(crate) num: u32,
    pub(crate) den: u32,
}

impl Rate {
    pub(crate) fn per_second(self) -> f64 {
        if self.den == 0 { 0.0 } else { f64::from(self.num) / f64::from(self.den) }
    }

    /// 29.97 counts as 30.
    fn reaches(self, fps: u32) -> bool {
        self.per_second() >= f64::from(fps) * 0.99
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fps = self.per_second();
        if fps.fract() == 0.0 { write!(f, "{fps:.0}") } else { write!(f, "{fps:.2}") }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Rates {
    Listed(Vec<Rate>),
    /// Any rate between the two (V4L2 stepwise/continuous intervals, GStreamer fraction ranges).
    Between(Rate, Rate),
}

impl Rates {
    /// The slowest rate that still reaches `fps`: less USB bandwidth and decoding.
    fn slowest_reaching(&self, fps: u32) -> Option<Rate> {
        match self {
            Rates::Listed(rates) => rates
                .iter()
                .copied()
                .filter(|r| r.reaches(fps))
                .min_by(|a, b| a.per_second().total_cmp(&b.per_second())),
            Rates::Between(low, high) => {
                let wanted = Rate { num: fps, den: 1 };
                if high.reaches(fps) {
                    Some(if low.per_second() <= f64::from(fps) { wanted } else { *low })
                } else {
                    None
                }
            }
        }
    }

    fn fastest(&self) -> Option<Rate> {
        match self {
            Rates::Listed(rates) => rates.iter().copied().max_by(|a, b| a.per_second().total_cmp(&b.per_second())),
            Rates::Between(_, high) => Some(*high),
        }
    }
}

/// Sizes a camera offers for one format.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Sizes {
    One {
        width: u32,
        height: u32,
    },
    /// Every size in the ranges, in steps (V4L2 stepwise sizes, GStreamer int ranges).
    Range {
        width: (u32, u32, u32),
        height: (u32, u32, u32),
    },
}

impl Sizes {
    fn contains(&self, width: u32, height: u32) -> bool {
        let fits =
            |v: u32, (min, max, step): (u32, u32, u32)| v >= min && v <= max && (v - min).is_multiple_of(step.max(1));
        match *self {
            Sizes::One { width: w, height: h } => w == width && h == height,
            Sizes::Range { width: ws, height: hs } => fits(width, ws) && fits(height, hs),
        }
    }
}

/// One format a camera offers, with its sizes and, for each, the frame rates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DeviceMode {
    pub(crate) format: PixelFormat,
    pub(crate) sizes: Sizes,
    pub(crate) rates: Rates,
}

/// What to ask the camera for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChosenMode {
    pub(crate) format: PixelFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) rate: Rate,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the camera cannot deliver {wanted}; it delivers {offered}")]
pub(crate) struct ModeError {
    wanted: String,
    offered: String,
}

/// Whether the caller can scale a larger picture down to the configured size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scaling {
    ExactSizeOnly,
    MayScaleDown,
}

/// The mode that gives `width`x`height` at `fps` or more, among `formats`: the exact size
/// before a larger one (when the caller can scale), raw before MJPEG, the smallest larger size,
/// then the slowest sufficient rate.
pub(crate) fn choose_mode(
    modes: &[DeviceMode],
    formats: &[PixelFormat],
    (width, height, fps): (u32, u32, u32),
    scaling: Scaling,
) -> Result<ChosenMode, ModeError> {
    let usable = || modes.iter().filter(|m| formats.contains(&m.format));
    let candidate = |mode: &DeviceMode, w: u32, h: u32| {
        mode.rates.slowest_reaching(fps).map(|rate| ChosenMode { format: mode.format, width: w, height: h, rate })
    };
    let exact = usable()
        .filter(|m| m.sizes.contains(width, height))
        .filter_map(|m| candidate(m, width, height))
        .min_by_key(|c| !c.format.is_raw());
    let larger = || {
        usable()
            .filter_map(|m| match m.sizes {
                Sizes::One { width: w, height: h } if w >= width && h >= height => candidate(m, w, h),
                _ => None,
            })
            .min_by_key(|c| (u64::from(c.width) * u64::from(c.height), !c.format.is_raw()))
    };
    let chosen = match scaling {
        Scaling::ExactSizeOnly => exact,
        Scaling::MayScaleDown => exact.or_else(larger),
    };
    chosen.ok_or_else(|| ModeError {
        wanted: format!("{width}x{height} at {fps} fps"),
        offered: describe(modes, formats),
    })
}

const LISTED_AT_MOST: usize = 12;

fn describe(modes: &[DeviceMode], formats: &[PixelFormat]) -> String {
    let mut offered: Vec<String> = modes
        .iter()
        .filter(|m| formats.contains(&m.format))
        .map(|m| {
            let size = match m.sizes {
                Sizes::One { width, height } => format!("{width}x{height}"),
                Sizes::Range { width: (w0, w1, _), height: (h0, h1, _) } => format!("{w0}x{h0} to {w1}x{h1}"),
            };
            match m.rates.fastest() {
                Some(rate) => format!("{} {size} at up to {rate} fps", m.format),
                None => format!("{} {size}", m.format),
            }
        })
        .collect();
    if offered.is_empty() {
        let names: Vec<String> = formats.iter().map(ToString::to_string).collect();
        return format!("none of the formats Cuebox reads ({})", names.join(", "));
    }
    let total = offered.len();
    offered.truncate(LISTED_AT_MOST);
    let mut text = offered.join(", ");
    if total > LISTED_AT_MOST {
        text.push_str(&format!(" and {} more", total - LISTED_AT_MOST));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [PixelFormat; 3] = [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Mjpeg];

    fn mode(format: PixelFormat, width: u32, height: u32, fps: &[u32]) -> DeviceMode {
        DeviceMode {
            format,
            sizes: Sizes::One { width, height },
            rates: Rates::Listed(fps.iter().map(|&num| Rate { num, den: 1 }).collect()),
        }
    }

    /// A typical UVC webcam: raw YUYV is slow at large sizes, MJPEG is fast at all of them.
    fn webcam() -> Vec<DeviceMode> {
        vec![
            mode(PixelFormat::Yuyv, 640, 480, &[30, 15]),
            mode(PixelFormat::Yuyv, 1280, 720, &[10, 5]),
            mode(PixelFormat::Mjpeg, 640, 480, &[30]),
            mode(PixelFormat::Mjpeg, 1280, 720, &[60, 30]),
            mode(PixelFormat::Mjpeg, 1920, 1080, &[30]),
        ]
    }

    #[test]
    fn raw_is_preferred_where_it_keeps_up_and_mjpeg_where_it_does_not() {
        let chosen = choose_mode(&webcam(), &ALL, (640, 480, 30), Scaling::ExactSizeOnly).unwrap();
        assert_eq!((chosen.format, chosen.rate), (PixelFormat::Yuyv, Rate { num: 30, den: 1 }));
        let chosen = choose_mode(&webcam(), &ALL, (1280, 720, 30), Scaling::ExactSizeOnly).unwrap();
        assert_eq!(
            (chosen.format, chosen.rate),
            (PixelFormat::Mjpeg, Rate { num: 30, den: 1 }),
            "slowest sufficient rate"
        );
        let chosen = choose_mode(&webcam(), &ALL, (1280, 720, 8), Scaling::ExactSizeOnly).unwrap();
        assert_eq!((chosen.format, chosen.rate.num), (PixelFormat::Yuyv, 10));
    }

    #[test]
    fn a_larger_mode_is_used_only_where_the_caller_scales() {
        let want = (800, 600, 30);
        let chosen = choose_mode(&webcam(), &ALL, want, Scaling::MayScaleDown).unwrap();
        assert_eq!((chosen.format, chosen.width, chosen.height), (PixelFormat::Mjpeg, 1280, 720));
        assert!(choose_mode(&webcam(), &ALL, want, Scaling::ExactSizeOnly).is_err());
    }

    #[test]
    fn the_error_names_what_the_camera_delivers() {
        let err = choose_mode(&webcam(), &ALL, (3840, 2160, 30), Scaling::MayScaleDown).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the camera cannot deliver 3840x2160 at 30 fps; it delivers YUYV 640x480 at up to 30 fps, \
             YUYV 1280x720 at up to 10 fps, MJPEG 640x480 at up to 30 fps, MJPEG 1280x720 at up to 60 fps, \
             MJPEG 1920x1080 at up to 30 fps"
        );
        let err = choose_mode(&webcam(), &[PixelFormat::Nv12], (640, 480, 30), Scaling::MayScaleDown).unwrap_err();
        assert!(err.to_string().ends_with("it delivers none of the formats Cuebox reads (NV12)"), "{err}");
    }

    #[test]
    fn ntsc_rates_count_and_ranges_give_the_configured_rate() {
        let ntsc = DeviceMode {
            format: PixelFormat::Mjpeg,
            sizes: Sizes::One { width: 640, height: 480 },
            rates: Rates::Listed(vec![Rate { num: 30000, den: 1001 }]),
        };
        assert!(choose_mode(&[ntsc], &ALL, (640, 480, 30), Scaling::ExactSizeOnly).is_ok());
        let stepwise = DeviceMode {
            format: PixelFormat::Yuyv,
            sizes: Sizes::Range { width: (16, 1920, 16), height: (16, 1080, 8) },
            rates: Rates::Between(Rate { num: 1, den: 1 }, Rate { num: 60, den: 1 }),
        };
        let chosen =
            choose_mode(std::slice::from_ref(&stepwise), &ALL, (640, 480, 25), Scaling::ExactSizeOnly).unwrap();
        assert_eq!((chosen.width, chosen.height, chosen.rate), (640, 480, Rate { num: 25, den: 1 }));
        assert!(choose_mode(&[stepwise], &ALL, (641, 480, 25), Scaling::ExactSizeOnly).is_err(), "off the step");
    }
}
