//! Where to look in a frame and how photos are enrolled: the regions a [`Strategy`] embeds.

use crate::{Crop, Palm, Proposal};

/// A square (or the whole frame) to embed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Region {
    /// The largest centred square.
    CenterSquare,
    /// The whole frame, squeezed into the model's square input.
    FullFrame,
    /// A square whose side is `side` times the frame's shorter side, centred at `x`, `y`
    /// (fractions of the frame's width and height).
    Fixed { x: f32, y: f32, side: f32 },
    /// A square of `side` palm sizes centred `reach` palm sizes from the palm's centre towards its
    /// fingers (from the wrist to the middle finger's knuckle): where a held product is.
    AroundPalm { reach: f32, side: f32 },
    /// The `count` windows of the frame whose pooled features come closest to an enrolled
    /// product (see [`FeatureMap::candidates`]), each as the square around it: a product is
    /// looked at close up wherever it is held. Nothing for a model without a feature map.
    Search { count: usize },
}

/// How a reference photo is embedded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enrollment {
    /// The whole photo.
    WholePhoto,
    /// The whole photo and its mirror image: a product may be held either way round.
    WholeAndMirrored,
    /// As `WholeAndMirrored`, and both again zoomed out: centred in a mid-grey square
    /// [`ZOOMED_OUT`] times their longer side, the scale a held product has in a frame.
    WholeMirroredAndZoomedOut,
}

/// Where to look in a frame, and how reference photos are embedded.
#[derive(Clone, Debug, PartialEq)]
pub struct Strategy {
    /// For reports and metrics.
    pub name: &'static str,
    /// The regions embedded when the palm detector sees a hand.
    pub with_hand: Vec<Region>,
    /// The regions embedded when it sees none (or there is no detector).
    pub without_hand: Vec<Region>,
    pub enrollment: Enrollment,
}

impl Strategy {
    /// The largest centred square, where a host holds a product up to a fixed camera.
    pub fn center_square() -> Self {
        Self::fixed("centre square", vec![Region::CenterSquare])
    }

    /// The whole frame.
    pub fn full_frame() -> Self {
        Self::fixed("full frame", vec![Region::FullFrame])
    }

    /// The centre square and the whole frame: a product far from the centre is still seen whole.
    pub fn center_and_full() -> Self {
        Self::fixed("centre square + full frame", vec![Region::CenterSquare, Region::FullFrame])
    }

    /// Six squares of two thirds of the frame's height tiling it in a 3x2 grid, the centre square
    /// and the whole frame: a product anywhere is seen close up.
    pub fn multi_crop() -> Self {
        let mut regions: Vec<Region> = [0.25, 0.5, 0.75]
            .into_iter()
            .flat_map(|x| [1.0 / 3.0, 2.0 / 3.0].map(|y| Region::Fixed { x, y, side: 2.0 / 3.0 }))
            .collect();
        regions.extend([Region::CenterSquare, Region::FullFrame]);
        Self::fixed("multi-crop (3x2 grid + centre + full)", regions)
    }

    /// Only a square along the hand; the whole frame when no hand is seen.
    pub fn palm_only() -> Self {
        Self {
            name: "palm square (4.5 palms, 0.75 towards the fingers) | full frame",
            with_hand: vec![Region::AroundPalm { reach: 0.75, side: 4.5 }],
            without_hand: vec![Region::FullFrame],
            enrollment: Enrollment::WholeAndMirrored,
        }
    }

    /// A square along the hand and the centre square; the centre square alone when no hand is seen.
    pub fn palm_and_center() -> Self {
        Self {
            name: "palm square + centre square | centre square",
            with_hand: vec![Region::AroundPalm { reach: 0.75, side: 4.5 }, Region::CenterSquare],
            without_hand: vec![Region::CenterSquare],
            enrollment: Enrollment::WholeAndMirrored,
        }
    }

    /// The best windows of the feature map, then the centre square and the whole frame.
    pub fn search(count: usize) -> Self {
        Self::fixed("feature-map search", vec![Region::Search { count }, Region::CenterSquare, Region::FullFrame])
    }

    /// What measured best on the evaluation set (see `eval/README.md`).
    pub fn recommended() -> Self {
        Self { enrollment: Enrollment::WholeMirroredAndZoomedOut, ..Self::search(3) }
    }

    /// Every strategy the evaluation compares: where to look, then how to enroll.
    pub fn compared() -> Vec<Self> {
        let mut compared = vec![
            Self::center_square(),
            Self::full_frame(),
            Self::center_and_full(),
            Self::multi_crop(),
            Self::palm_only(),
            Self::palm_and_center(),
        ];
        compared.extend(
            [Enrollment::WholePhoto, Enrollment::WholeMirroredAndZoomedOut]
                .map(|enrollment| Self { enrollment, ..Self::center_and_full() }),
        );
        compared.extend(
            [1, 3].map(|count| Self { enrollment: Enrollment::WholeMirroredAndZoomedOut, ..Self::search(count) }),
        );
        compared.push(Self { enrollment: Enrollment::WholeMirroredAndZoomedOut, ..Self::palm_and_center() });
        compared
    }

    fn fixed(name: &'static str, regions: Vec<Region>) -> Self {
        Self { name, with_hand: regions.clone(), without_hand: regions, enrollment: Enrollment::WholeAndMirrored }
    }

    /// Whether any region is placed by the hand, so that the palm detector has to run.
    pub fn uses_hand(&self) -> bool {
        self.with_hand.iter().any(|region| matches!(region, Region::AroundPalm { .. }))
    }

    /// How many feature-map windows the strategy looks at (0: the feature map is not needed).
    pub fn searched(&self) -> usize {
        self.with_hand
            .iter()
            .chain(&self.without_hand)
            .map(|region| if let Region::Search { count } = region { *count } else { 0 })
            .max()
            .unwrap_or(0)
    }

    /// The distinct crops to embed in a `width`x`height` frame, given the hand seen in it and
    /// the feature-map windows found in it (best first). Never empty: the whole frame when no
    /// region applies.
    pub fn regions(&self, width: u32, height: u32, hand: Option<&Palm>, found: &[Proposal]) -> Vec<Crop> {
        let regions = if hand.is_some() { &self.with_hand } else { &self.without_hand };
        let mut crops: Vec<Crop> = Vec::with_capacity(regions.len());
        for region in regions {
            let placed: Vec<Crop> = match region {
                Region::Search { count } => {
                    found.iter().take(*count).map(|p| square_around(p.region, width, height)).collect()
                }
                other => other.crop(width, height, hand).into_iter().collect(),
            };
            for crop in placed {
                if !crops.contains(&crop) {
                    crops.push(crop);
                }
            }
        }
        if crops.is_empty() {
            crops.push(Crop { x: 0, y: 0, width, height });
        }
        crops
    }
}

impl Region {
    /// This region in a `width`x`height` frame; `None` for a hand region without a hand.
    pub fn crop(&self, width: u32, height: u32, hand: Option<&Palm>) -> Option<Crop> {
        let shorter = width.min(height) as f32;
        match *self {
            Region::CenterSquare => {
                Some(square_inside(width as f32 / 2.0, height as f32 / 2.0, shorter, width, height))
            }
            Region::FullFrame => Some(Crop { x: 0, y: 0, width, height }),
            Region::Search { .. } => None,
            Region::Fixed { x, y, side } => {
                Some(square_inside(x * width as f32, y * height as f32, side * shorter, width, height))
            }
            Region::AroundPalm { reach, side } => {
                let palm = hand?;
                let size = palm.bounds.width().max(palm.bounds.height());
                let centre = palm.bounds.center();
                let (wrist, knuckle) = (palm.keypoints[0], palm.keypoints[2]);
                let (along_x, along_y) = (knuckle.x - wrist.x, knuckle.y - wrist.y);
                let length = (along_x * along_x + along_y * along_y).sqrt();
                let (towards_x, towards_y) =
                    if length > 0.0 { (along_x / length, along_y / length) } else { (0.0, 0.0) };
                let (x, y) = (centre.x + reach * size * towards_x, centre.y + reach * size * towards_y);
                Some(square_inside(x, y, side * size, width, height))
            }
        }
    }
}

/// The square around `region` (its longer side), moved inside the frame.
fn square_around(region: Crop, width: u32, height: u32) -> Crop {
    let side = region.width.max(region.height) as f32;
    let (x, y) = (region.x as f32 + region.width as f32 / 2.0, region.y as f32 + region.height as f32 / 2.0);
    square_inside(x, y, side, width, height)
}

/// A square of `side` pixels centred at `x`, `y`, shrunk to fit and moved inside the frame.
fn square_inside(x: f32, y: f32, side: f32, width: u32, height: u32) -> Crop {
    let side = side.round().clamp(1.0, width.min(height) as f32);
    let left = (x - side / 2.0).round().clamp(0.0, width as f32 - side);
    let top = (y - side / 2.0).round().clamp(0.0, height as f32 - side);
    Crop { x: left as u32, y: top as u32, width: side as u32, height: side as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoundingBox, PALM_KEYPOINTS, Point};

    fn palm_at(x: f32, y: f32, size: f32, towards: (f32, f32)) -> Palm {
        let mut keypoints = [Point { x, y }; PALM_KEYPOINTS];
        keypoints[0] = Point { x: x - towards.0 * size / 2.0, y: y - towards.1 * size / 2.0 };
        keypoints[2] = Point { x: x + towards.0 * size / 2.0, y: y + towards.1 * size / 2.0 };
        Palm {
            score: 0.9,
            bounds: BoundingBox {
                x_min: x - size / 2.0,
                y_min: y - size / 2.0,
                x_max: x + size / 2.0,
                y_max: y + size / 2.0,
            },
            keypoints,
        }
    }

    #[test]
    fn fixed_regions_are_squares_inside_the_frame() {
        assert_eq!(Region::CenterSquare.crop(640, 480, None), Some(Crop { x: 80, y: 0, width: 480, height: 480 }));
        assert_eq!(Region::FullFrame.crop(640, 480, None), Some(Crop { x: 0, y: 0, width: 640, height: 480 }));
        let corner = Region::Fixed { x: 0.0, y: 1.0, side: 0.5 }.crop(640, 480, None);
        assert_eq!(corner, Some(Crop { x: 0, y: 240, width: 240, height: 240 }));
        let grid = Strategy::multi_crop().regions(640, 480, None, &[]);
        assert_eq!(grid.len(), 8);
        assert!(grid.iter().all(|c| c.x + c.width <= 640 && c.y + c.height <= 480), "{grid:?}");
    }

    #[test]
    fn palm_regions_reach_towards_the_fingers_and_stay_inside() {
        let region = Region::AroundPalm { reach: 1.0, side: 2.0 };
        assert_eq!(region.crop(640, 480, None), None);
        let pointing_left = palm_at(400.0, 240.0, 60.0, (-1.0, 0.0));
        assert_eq!(region.crop(640, 480, Some(&pointing_left)), Some(Crop { x: 280, y: 180, width: 120, height: 120 }));
        let near_the_top = palm_at(100.0, 20.0, 100.0, (0.0, -1.0));
        assert_eq!(region.crop(640, 480, Some(&near_the_top)), Some(Crop { x: 0, y: 0, width: 200, height: 200 }));
        let huge = Region::AroundPalm { reach: 0.0, side: 20.0 }.crop(640, 480, Some(&pointing_left));
        assert_eq!(huge, Some(Crop { x: 160, y: 0, width: 480, height: 480 }));
    }

    #[test]
    fn a_strategy_without_applicable_regions_falls_back_to_the_full_frame() {
        let strategy = Strategy {
            name: "hand only",
            with_hand: vec![Region::AroundPalm { reach: 0.0, side: 2.0 }],
            without_hand: vec![],
            enrollment: Enrollment::WholePhoto,
        };
        assert!(strategy.uses_hand());
        assert_eq!(strategy.regions(64, 48, None, &[]), vec![Crop { x: 0, y: 0, width: 64, height: 48 }]);
        assert!(!Strategy::center_square().uses_hand());
    }

    #[test]
    fn duplicate_regions_are_embedded_once() {
        let strategy =
            Strategy::fixed("twice", vec![Region::CenterSquare, Region::Fixed { x: 0.5, y: 0.5, side: 1.0 }]);
        assert_eq!(strategy.regions(640, 480, None, &[]).len(), 1);
    }
}
