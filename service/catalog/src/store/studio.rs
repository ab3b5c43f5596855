//! What a studio taught recognition beyond its catalog: how the set looks without a product
//! (its calibration), and frames the host corrected, kept as suggested references. Both outlive
//! catalog imports; calibrations are kept per image model, as their embeddings are only
//! comparable under the model that made them.

use serde::{Deserialize, Serialize};

use super::{Store, from_json, now_ms, to_json};
use crate::StoreError;

const STUDIO_VIEW: &str = "view/";
const SUGGESTION: &str = "suggestion/";
/// Suggestions kept; the oldest go first.
pub const MAX_SUGGESTIONS: usize = 30;

/// Embeddings of the studio without a product (the empty set, the host without one), as the
/// image model `model` made them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudioView {
    pub model: String,
    pub recorded_at_ms: u64,
    /// How many frames of the empty set and of the host without a product were recorded.
    pub empty_frames: usize,
    pub hand_frames: usize,
    pub embeddings: Vec<Vec<f32>>,
}

/// A frame where the host named the product that vision did not: a reference to add with
/// one click.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub id: u64,
    pub sku: String,
    /// What vision named at the time (none: no product).
    pub seen_as: Option<String>,
    pub at_ms: u64,
    /// Where the product was thought to be, in the frame's pixels: `[x, y, width, height]`.
    pub region: [u32; 4],
    /// The frame, as a JPEG.
    #[serde(skip)]
    pub jpeg: Vec<u8>,
}

impl Store {
    /// Records the studio's view for its model, replacing an earlier one.
    pub fn set_studio_view(&self, view: &StudioView) -> Result<(), StoreError> {
        self.studio.insert(format!("{STUDIO_VIEW}{}", view.model), to_json(view))?;
        self.db.flush()?;
        Ok(())
    }

    /// The studio's view recorded under `model`, if any.
    pub fn studio_view(&self, model: &str) -> Result<Option<StudioView>, StoreError> {
        let key = format!("{STUDIO_VIEW}{model}");
        self.studio.get(&key)?.map(|v| from_json(&v, &key)).transpose()
    }

    /// Forgets the studio's view under `model`; whether there was one.
    pub fn clear_studio_view(&self, model: &str) -> Result<bool, StoreError> {
        let removed = self.studio.remove(format!("{STUDIO_VIEW}{model}"))?.is_some();
        self.db.flush()?;
        Ok(removed)
    }

    /// Keeps a corrected frame as a suggestion (dropping the oldest beyond
    /// [`MAX_SUGGESTIONS`]); its id.
    pub fn suggest(&self, sku: &str, seen_as: Option<&str>, region: [u32; 4], jpeg: &[u8]) -> Result<u64, StoreError> {
        let id = self.db.generate_id()?;
        let suggestion = Suggestion {
            id,
            sku: sku.to_owned(),
            seen_as: seen_as.map(str::to_owned),
            at_ms: now_ms(),
            region,
            jpeg: Vec::new(),
        };
        let meta = to_json(&suggestion);
        let mut value = (meta.len() as u32).to_be_bytes().to_vec();
        value.extend_from_slice(&meta);
        value.extend_from_slice(jpeg);
        self.studio.insert(suggestion_key(id), value)?;
        let kept: Vec<_> = self.studio.scan_prefix(SUGGESTION).keys().collect::<Result<_, _>>()?;
        for old in kept.iter().take(kept.len().saturating_sub(MAX_SUGGESTIONS)) {
            self.studio.remove(old)?;
        }
        self.db.flush()?;
        Ok(id)
    }

    /// The suggestions, oldest first.
    pub fn suggestions(&self) -> Result<Vec<Suggestion>, StoreError> {
        self.studio
            .scan_prefix(SUGGESTION)
            .map(|item| {
                let (key, value) = item?;
                decode_suggestion(&value).ok_or_else(|| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    message: "not a suggestion".into(),
                })
            })
            .collect()
    }

    /// Removes a suggestion and gives it back (to enroll it, or to drop it).
    pub fn take_suggestion(&self, id: u64) -> Result<Option<Suggestion>, StoreError> {
        let Some(value) = self.studio.remove(suggestion_key(id))? else { return Ok(None) };
        self.db.flush()?;
        Ok(decode_suggestion(&value))
    }
}

fn suggestion_key(id: u64) -> Vec<u8> {
    let mut key = SUGGESTION.as_bytes().to_vec();
    key.extend_from_slice(&id.to_be_bytes());
    key
}

fn decode_suggestion(value: &[u8]) -> Option<Suggestion> {
    let len = value.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)? as usize;
    let mut suggestion: Suggestion = serde_json::from_slice(value.get(4..4 + len)?).ok()?;
    suggestion.jpeg = value.get(4 + len..)?.to_vec();
    Some(suggestion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_studio_view_is_kept_per_model_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.studio_view("m1").unwrap(), None);
        let view = StudioView {
            model: "m1".into(),
            recorded_at_ms: 5,
            empty_frames: 3,
            hand_frames: 2,
            embeddings: vec![vec![0.5, 0.25], vec![1.0, 0.0]],
        };
        store.set_studio_view(&view).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.studio_view("m1").unwrap(), Some(view));
        assert_eq!(store.studio_view("m2").unwrap(), None, "another model's view is not this one");
        assert!(store.clear_studio_view("m1").unwrap());
        assert_eq!(store.studio_view("m1").unwrap(), None);
    }

    #[test]
    fn suggestions_are_kept_newest_last_bounded_and_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = store.suggest("TEA-001", None, [1, 2, 3, 4], &[0xff, 0xd8, 1]).unwrap();
        for n in 0..MAX_SUGGESTIONS {
            store.suggest("MUG-002", Some("TEA-001"), [0, 0, 10, 10], &[n as u8]).unwrap();
        }
        let kept = store.suggestions().unwrap();
        assert_eq!(kept.len(), MAX_SUGGESTIONS);
        assert!(kept.iter().all(|s| s.id != first), "the oldest went first");
        let last = kept.last().unwrap().clone();
        assert_eq!(
            (last.sku.as_str(), last.seen_as.as_deref(), last.jpeg.clone()),
            ("MUG-002", Some("TEA-001"), vec![(MAX_SUGGESTIONS - 1) as u8])
        );
        assert_eq!(store.take_suggestion(last.id).unwrap(), Some(last.clone()));
        assert_eq!(store.take_suggestion(last.id).unwrap(), None);
        assert_eq!(store.suggestions().unwrap().len(), MAX_SUGGESTIONS - 1);
    }
}
