//! Viewer questions on their own thread: masked where they carry what must not be shown,
//! aggregated when many viewers ask the same thing, answered from the FAQ (BM25, with e5
//! semantics when enabled, in any language the text model covers), and counted for the demand
//! board, which alerts the host when a product not on camera is in demand. The messages come
//! from the sources in `sources` (connectors, the webhook, MQTT `chat/in`), rate-limited there.

pub mod connector;
pub mod moderation;
pub mod oba;
pub mod social_stream;
pub mod sources;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cuebox_catalog::{Answer, FaqIndex, QuestionKey, Store, TextEmbedder};
use tokio::sync::mpsc;

use crate::engine::{AnsweredQuestion, EngineInput};
use crate::messages::ReplyTo;
use crate::metrics::Metrics;
use moderation::Moderation;
use sources::ViewerMessage;

#[derive(Clone, Debug)]
pub struct ChatSettings {
    /// Near-identical questions within this window are one question asked by many.
    pub window: Duration,
    pub demand_window: Duration,
    /// Questions about a product not on camera, within the demand window, that alert the host.
    pub demand_min: usize,
    /// Overrides the index's calibrated threshold.
    pub min_score: Option<f32>,
    /// Where the text-embedding model is, when semantic retrieval is on.
    pub semantic: Option<std::path::PathBuf>,
}

/// The product on air, as the engine last showed it.
#[derive(Clone, Default)]
pub struct OnAir(Arc<RwLock<Option<String>>>);

impl OnAir {
    pub fn get(&self) -> Option<String> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set(&self, sku: Option<String>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = sku;
    }
}

/// One question as many viewers asked it.
struct Group {
    key: QuestionKey,
    question: String,
    answer: Option<Answer>,
    first: Instant,
    asked: usize,
}

/// An answer recently sent, so that a connector that relays it back as chat is not answered.
struct Sent {
    text: String,
    at: Instant,
}

/// Counts that make an aggregated question worth showing the host again.
fn worth_repeating(asked: usize) -> bool {
    matches!(asked, 2 | 3 | 5) || (asked >= 10 && asked.is_multiple_of(10))
}

pub struct ChatThread {
    pub store: Arc<Store>,
    pub settings: ChatSettings,
    pub on_air: OnAir,
    pub engine: mpsc::Sender<EngineInput>,
    pub metrics: Arc<Metrics>,
}

impl ChatThread {
    /// Answers until `stop` is set (which also stops an index build part way).
    pub fn run(&self, questions: &Receiver<ViewerMessage>, stop: &Arc<AtomicBool>) {
        let mut index = Index::default();
        let mut semantic: Option<TextEmbedder> = None;
        let mut semantic_failed = false;
        let mut groups: VecDeque<Group> = VecDeque::new();
        let mut sent: VecDeque<Sent> = VecDeque::new();
        let mut demand: VecDeque<(String, Instant)> = VecDeque::new();
        let mut alerted: Vec<(String, Instant)> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            index.refresh(&self.store, semantic.as_ref(), self.settings.min_score);
            let text_model_to_load = self.settings.semantic.as_ref().filter(|_| semantic.is_none() && !semantic_failed);
            self.metrics.faq_ready.store(index.index.is_some() && text_model_to_load.is_none(), Ordering::Relaxed);
            if let Some(dir) = text_model_to_load {
                match TextEmbedder::load(dir) {
                    Ok(embedder) => {
                        let embedder = embedder.stopping_on(stop.clone());
                        let embedder = match self.store.text_embeddings() {
                            Ok(tree) => embedder.remembering_in(tree),
                            Err(error) => {
                                tracing::warn!(%error, "FAQ text embeddings are not kept between builds");
                                embedder
                            }
                        };
                        tracing::info!("semantic FAQ retrieval on (multilingual-e5-small)");
                        semantic = Some(embedder);
                        index.generation = None;
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "semantic FAQ retrieval off: the text model cannot be loaded");
                        semantic_failed = true;
                    }
                }
            }
            let mut message = match questions.recv_timeout(Duration::from_millis(500)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let now = Instant::now();
            while sent.front().is_some_and(|s| now.duration_since(s.at) > self.settings.window) {
                sent.pop_front();
            }
            if sent.iter().any(|s| s.text == message.text.trim()) {
                message.source.taken_but_ignored("an answer relayed back");
                continue;
            }
            if let Some(masked) = index.moderation.mask(&message.text) {
                message.text = masked;
                message.source.masked.fetch_add(1, Ordering::Relaxed);
                self.metrics.chat_masked.fetch_add(1, Ordering::Relaxed);
            }
            self.metrics.chat_questions.fetch_add(1, Ordering::Relaxed);
            while groups.front().is_some_and(|g| now.duration_since(g.first) > self.settings.window) {
                groups.pop_front();
            }
            let key = QuestionKey::new(&message.text);
            if let Some(group) = groups.iter_mut().find(|g| g.key.is_near_duplicate(&key)) {
                group.asked += 1;
                if let Some(answer) = &group.answer
                    && worth_repeating(group.asked)
                {
                    self.answer(&message, &group.question, answer, group.asked, &mut sent);
                }
                continue;
            }
            let on_air = self.on_air.get();
            let answer = match index.ask(&message.text, on_air.as_deref()) {
                Ok(a) => a,
                Err(error) => {
                    tracing::warn!(%error, "question not answered");
                    None
                }
            };
            if let Some(answer) = &answer {
                self.answer(&message, &message.text, answer, 1, &mut sent);
                if let Some(sku) = &answer.sku
                    && on_air.as_deref() != Some(sku.as_str())
                {
                    self.demand(sku, now, &mut demand, &mut alerted);
                }
            } else {
                self.metrics.chat_unanswered.fetch_add(1, Ordering::Relaxed);
            }
            groups.push_back(Group { key, question: message.text, answer, first: now, asked: 1 });
        }
    }

    /// Sends `answer` to `question` (as first asked) to the engine, replying to `message` (the
    /// latest viewer to ask it).
    fn answer(
        &self,
        message: &ViewerMessage,
        question: &str,
        answer: &Answer,
        asked: usize,
        sent: &mut VecDeque<Sent>,
    ) {
        let input = EngineInput::Answer(Box::new(AnsweredQuestion {
            question: question.to_owned(),
            question_lang: answer.question_lang.clone(),
            faq_id: answer.faq_id.clone(),
            sku: answer.sku.clone(),
            text: answer.answer.clone(),
            lang: answer.locale.clone(),
            asked,
            platform: message.platform.clone(),
            reply_to: ReplyTo { id: message.id.clone(), user: message.user.clone(), ts: message.ts },
            received: message.received,
        }));
        if self.engine.try_send(input).is_err() {
            self.metrics.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent.push_back(Sent { text: answer.answer.trim().to_owned(), at: Instant::now() });
    }

    /// Counts a question about `sku` (not on camera) and alerts the host once it is in demand.
    fn demand(
        &self,
        sku: &str,
        now: Instant,
        demand: &mut VecDeque<(String, Instant)>,
        alerted: &mut Vec<(String, Instant)>,
    ) {
        let window = self.settings.demand_window;
        demand.push_back((sku.to_owned(), now));
        while demand.front().is_some_and(|(_, at)| now.duration_since(*at) > window) {
            demand.pop_front();
        }
        alerted.retain(|(_, at)| now.duration_since(*at) <= window);
        let asking = demand.iter().filter(|(s, _)| s == sku).count();
        if asking >= self.settings.demand_min && !alerted.iter().any(|(s, _)| s == sku) {
            alerted.push((sku.to_owned(), now));
            let _ = self.engine.try_send(EngineInput::Demand { sku: sku.to_owned(), asking, window });
        }
    }
}

/// The FAQ index of the active catalog, rebuilt when the catalog changes, with the catalog's
/// banned words.
#[derive(Default)]
struct Index {
    index: Option<FaqIndex>,
    moderation: Moderation,
    generation: Option<u64>,
}

impl Index {
    fn refresh(&mut self, store: &Store, semantic: Option<&TextEmbedder>, min_score: Option<f32>) {
        let generation = match store.header() {
            Ok(h) => h.map(|h| h.generation),
            Err(error) => {
                tracing::warn!(%error, "catalog unreadable for the FAQ");
                return;
            }
        };
        if generation == self.generation && self.index.is_some() {
            return;
        }
        let built = store.header().and_then(|h| Ok((h, store.studio_faq()?, store.products()?)));
        let (header, studio_faq, products) = match built {
            Ok((Some(h), faq, products)) => (h, faq, products),
            Ok((None, ..)) => return,
            Err(error) => {
                tracing::warn!(%error, "catalog unreadable for the FAQ");
                return;
            }
        };
        let started = Instant::now();
        match FaqIndex::build(&studio_faq, &products, &header.default_locale, semantic) {
            Ok(index) => {
                let index = match min_score {
                    Some(m) => index.with_min_score(m),
                    None => index,
                };
                tracing::info!(
                    hybrid = index.is_hybrid(),
                    build_ms = started.elapsed().as_millis() as u64,
                    "FAQ index built"
                );
                self.index = Some(index);
                self.moderation = Moderation::new(header.banned_words.iter().map(String::as_str));
                self.generation = generation;
            }
            Err(cuebox_catalog::FaqError::Embedding(cuebox_catalog::TextEmbeddingError::Stopped)) => {}
            Err(error) => tracing::warn!(%error, "FAQ index not built"),
        }
    }

    fn ask(&self, question: &str, in_view: Option<&str>) -> Result<Option<Answer>, cuebox_catalog::FaqError> {
        match &self.index {
            Some(index) => Ok(index.ask(question, in_view, 1)?.into_iter().next()),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_questions_come_back_at_growing_counts() {
        let shown: Vec<usize> = (1..=40).filter(|&n| worth_repeating(n)).collect();
        assert_eq!(shown, vec![2, 3, 5, 10, 20, 30, 40]);
    }
}
