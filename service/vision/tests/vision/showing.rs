//! Where a product shown to the camera is, as live enrollment ("hold it up and turn it") and the
//! host's corrections crop it: on the transfer set's held products (off-centre, 25–60% of the
//! frame, on backgrounds used nowhere else), whether the product is enrolled (its references
//! guide the search) or new (only the studio's calibration tells it from the set).

use cuebox_vision::{Crop, Gallery, load_image};

use crate::evaluation::{EvalSet, models};

/// Share of held products whose region is found (intersection over union at least
/// [`FOUND_IOU`]), reached today (eval/README.md) and kept as floors.
const FOUND_IOU: f32 = 0.3;
const ENROLLED_FOUND: f64 = 0.79;
const NEW_FOUND: f64 = 0.66;

fn iou(a: Crop, b: Crop) -> f32 {
    let width = (a.x + a.width).min(b.x + b.width).saturating_sub(a.x.max(b.x));
    let height = (a.y + a.height).min(b.y + b.height).saturating_sub(a.y.max(b.y));
    let inter = (width * height) as f32;
    inter / ((a.width * a.height + b.width * b.height) as f32 - inter)
}

#[test]
fn the_shown_product_is_found_whether_enrolled_or_new() {
    let set = EvalSet::open("transfer");
    let (embedder, _, _) = models();
    let finder = cuebox_vision::Finder::new(embedder, None, cuebox_vision::Strategy::recommended());
    let gallery = set.gallery(&finder);
    let studios = set.studio_views("test", &finder, 3);
    let (mut enrolled, mut new, mut centre, mut counted) = (0usize, 0usize, 0usize, 0usize);
    for sample in set.held_products("test") {
        let (sku, [left, top, right, bottom]) = (sample.sku.as_deref().unwrap(), sample.box_);
        let truth = Crop { x: left, y: top, width: right - left, height: bottom - top };
        let image = load_image(&sample.path).unwrap();
        let view = image.view().unwrap();
        let as_enrolled = finder.shown_region(view, &gallery, sku).unwrap();
        let mut studio_only = Gallery::default();
        studio_only.set_studio(studios.get(&sample.background).map_or(&[][..], Vec::as_slice));
        let as_new = finder.shown_region(view, &studio_only, sku).unwrap();
        counted += 1;
        enrolled += usize::from(iou(as_enrolled, truth) >= FOUND_IOU);
        new += usize::from(iou(as_new, truth) >= FOUND_IOU);
        centre += usize::from(iou(view.center_square(), truth) >= FOUND_IOU);
    }
    let share = |n: usize| n as f64 / counted as f64;
    eprintln!(
        "shown products on the transfer set: {counted} held; found when enrolled {:.1}%, when new (studio calibrated) \
         {:.1}%; the centre square covers {:.1}%",
        100.0 * share(enrolled),
        100.0 * share(new),
        100.0 * share(centre)
    );
    assert!(counted >= 100, "only {counted} held products");
    assert!(share(enrolled) >= ENROLLED_FOUND, "enrolled products found in {:.1}%", 100.0 * share(enrolled));
    assert!(share(new) >= NEW_FOUND, "new products found in {:.1}%", 100.0 * share(new));
    assert!(new > centre && enrolled > new, "searching beats the centre square, and references beat the studio alone");
}
