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

/// What the studio looks like without a product, as the image model `model` embeds it: the
/// empty set, and the host in the shot without a product, each recorded on its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StudioView {
    pub model: String,
    pub empty: StudioRecording,
    pub host: StudioRecording,
}

/// One recording of the studio without a product.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StudioRecording {
    /// When it was recorded (Unix ms; 0: never).
    pub recorded_at_ms: u64,
    /// How many frames it holds.
    pub frames: usize,
    pub embeddings: Vec<Vec<f32>>,
}

/// Which part of the studio's view a recording shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StudioPhase {
    /// The set with nobody and no product in it.
    Empty,
    /// The host in the shot, without a product.
    Host,
}

impl StudioView {
    /// Every embedding of both recordings.
    pub fn embeddings(&self) -> impl Iterator<Item = &Vec<f32>> {
        self.empty.embeddings.iter().chain(&self.host.embeddings)
    }
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
    /// Records one part of the studio's view under `model` (replacing that part's earlier
    /// recording, keeping the other); the view as it now stands.
    pub fn record_studio(
        &self,
        model: &str,
        phase: StudioPhase,
        frames: usize,
        embeddings: Vec<Vec<f32>>,
    ) -> Result<StudioView, StoreError> {
        let mut view =
            self.studio_view(model)?.unwrap_or_else(|| StudioView { model: model.to_owned(), ..StudioView::default() });
        let recording = StudioRecording { recorded_at_ms: now_ms(), frames, embeddings };
        match phase {
            StudioPhase::Empty => view.empty = recording,
            StudioPhase::Host => view.host = recording,
        }
        self.studio.insert(format!("{STUDIO_VIEW}{model}"), to_json(&view))?;
        self.db.flush()?;
        Ok(view)
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

    /// One suggestion, left in place.
    pub fn suggestion(&self, id: u64) -> Result<Option<Suggestion>, StoreError> {
        Ok(self.studio.get(suggestion_key(id))?.and_then(|value| decode_suggestion(&value)))
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
    fn a_studio_view_is_recorded_part_by_part_per_model_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.studio_view("m1").unwrap(), None);
        store.record_studio("m1", StudioPhase::Empty, 3, vec![vec![0.5, 0.25]]).unwrap();
        store.record_studio("m1", StudioPhase::Host, 2, vec![vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
        let replaced = store.record_studio("m1", StudioPhase::Empty, 4, vec![vec![0.25, 0.5]]).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let view = store.studio_view("m1").unwrap().unwrap();
        assert_eq!(view, replaced);
        assert_eq!((view.empty.frames, view.host.frames), (4, 2), "a new empty recording keeps the host's");
        assert_eq!(
            view.embeddings().cloned().collect::<Vec<_>>(),
            vec![vec![0.25, 0.5], vec![1.0, 0.0], vec![0.0, 1.0]]
        );
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
        assert_eq!(store.suggestion(last.id).unwrap(), Some(last.clone()), "looking does not take it");
        assert_eq!(store.take_suggestion(last.id).unwrap(), Some(last.clone()));
        assert_eq!(store.take_suggestion(last.id).unwrap(), None);
        assert_eq!(store.suggestions().unwrap().len(), MAX_SUGGESTIONS - 1);
    }
}
