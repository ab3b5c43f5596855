//! Printed text read on its own thread, at a lower rate than recognition and only where it pays:
//! around where the best product was seen, and only when the scene changed since the last read.
//! The vision thread uses the newest reading while the scene still looks like it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cuebox_vision::{Crop, RgbView, SceneSignature};

use super::{Pipeline, pause};

/// A reading is used for at most this long, and only while the scene differs from the frame it
/// was read on by less than this many luma levels (see [`SceneSignature`]).
const READING_LIFETIME: Duration = Duration::from_secs(3);
const SAME_SCENE: f32 = 6.0;
/// The region read is the square around where the best product was seen, this much larger.
const READ_AROUND: f32 = 1.4;

/// The newest text read in the frames.
#[derive(Clone, Default)]
pub struct SharedText(Arc<Mutex<Option<Reading>>>);

#[derive(Clone)]
struct Reading {
    lines: Vec<String>,
    scene: SceneSignature,
    at: Instant,
}

impl SharedText {
    /// The lines of the newest reading, if it was made on a frame that looks like `scene`.
    pub fn fresh(&self, scene: &SceneSignature) -> Option<Vec<String>> {
        let reading = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()?;
        (reading.at.elapsed() < READING_LIFETIME && reading.scene.difference(scene) < SAME_SCENE)
            .then_some(reading.lines)
    }

    fn set(&self, reading: Reading) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(reading);
    }
}

/// The square around `region`, [`READ_AROUND`] times its longer side, inside the frame.
fn around(region: Crop, width: u32, height: u32) -> Crop {
    let side = ((region.width.max(region.height) as f32 * READ_AROUND) as u32).clamp(1, width.min(height));
    let centre = (region.x + region.width / 2, region.y + region.height / 2);
    let x = centre.0.saturating_sub(side / 2).min(width - side);
    let y = centre.1.saturating_sub(side / 2).min(height - side);
    Crop { x, y, width: side, height: side }
}

impl Pipeline {
    pub(super) fn read_text(&self, stop: &AtomicBool) {
        let mut last: Option<(u64, SceneSignature)> = None;
        while !stop.load(Ordering::Relaxed) {
            let Some(interval) = self.recognizer.tuning().text_interval.filter(|_| self.recognizer.reads_text()) else {
                pause(stop, Duration::from_millis(500));
                continue;
            };
            let started = Instant::now();
            if let Some(preview) = self.preview.latest()
                && last.as_ref().is_none_or(|(seq, _)| *seq != preview.frame.seq)
            {
                let frame = &preview.frame;
                if let Ok(view) = RgbView::new(frame.width, frame.height, &frame.rgb) {
                    let scene = SceneSignature::of(view);
                    let changed = last.as_ref().is_none_or(|(_, known)| known.difference(&scene) >= SAME_SCENE / 2.0);
                    if changed {
                        last = Some((frame.seq, scene.clone()));
                        let crop = around(preview.region, frame.width, frame.height);
                        match self.recognizer.read_text(view, crop) {
                            Ok(lines) => {
                                let ms = started.elapsed().as_secs_f64() * 1e3;
                                self.metrics.text_ms.record(ms);
                                self.metrics.text_reads.fetch_add(1, Ordering::Relaxed);
                                tracing::trace!(?lines, ms, "text read");
                                self.text.set(Reading { lines, scene, at: Instant::now() });
                            }
                            Err(error) => tracing::warn!(%error, "reading text failed"),
                        }
                    }
                }
            }
            pause(stop, interval.saturating_sub(started.elapsed()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_read_is_a_larger_square_inside_the_frame() {
        assert_eq!(
            around(Crop { x: 300, y: 200, width: 100, height: 50 }, 640, 480),
            Crop { x: 280, y: 155, width: 140, height: 140 }
        );
        assert_eq!(
            around(Crop { x: 0, y: 0, width: 400, height: 400 }, 640, 480),
            Crop { x: 0, y: 0, width: 480, height: 480 }
        );
        assert_eq!(
            around(Crop { x: 600, y: 440, width: 40, height: 40 }, 640, 480),
            Crop { x: 584, y: 424, width: 56, height: 56 }
        );
    }

    #[test]
    fn a_reading_is_used_only_while_the_scene_looks_like_it() {
        let shared = SharedText::default();
        let grey = vec![100u8; 64 * 48 * 3];
        let white = vec![250u8; 64 * 48 * 3];
        let scene = |data: &[u8]| SceneSignature::of(RgbView::new(64, 48, data).unwrap());
        assert_eq!(shared.fresh(&scene(&grey)), None);
        shared.set(Reading { lines: vec!["TEA".into()], scene: scene(&grey), at: Instant::now() });
        assert_eq!(shared.fresh(&scene(&grey)), Some(vec!["TEA".to_owned()]));
        assert_eq!(shared.fresh(&scene(&white)), None, "another scene");
        shared.set(Reading { lines: vec!["TEA".into()], scene: scene(&grey), at: Instant::now() - READING_LIFETIME });
        assert_eq!(shared.fresh(&scene(&grey)), None, "too old");
    }
}
