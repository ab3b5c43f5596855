//! The cue engine: turns "what is in view" and the host's commands into the `product`,
//! `overlay` and `prompt` messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cuebox_catalog::{Product, Store};

use crate::messages::{
    ChatOutMessage, Command, CueAction, OverlayMessage, ProductMessage, ProductSource, PromptKind, PromptMessage,
    ReplyTo, display_price,
};
use crate::metrics::Metrics;
use crate::mqtt::{Outbox, Topic};

/// A change of the product vision sees.
#[derive(Clone, Debug)]
pub struct VisionChange {
    pub sku: Option<String>,
    pub confidence: f32,
    /// When the evidence for the change began (Unix ms).
    pub since_ms: u64,
    /// Capture time of the frame that completed the change.
    pub captured: Instant,
}

#[derive(Debug)]
pub enum EngineInput {
    Vision(VisionChange),
    Command(Command),
    /// A new catalog was imported or photos were enrolled: read the products again.
    CatalogChanged,
    /// A barcode or QR payload read in a frame captured at `captured`.
    Barcode {
        text: String,
        captured: Instant,
    },
    /// Time passes (expires a barcode that is no longer seen).
    Tick,
    /// An answer to a viewer question.
    Answer(Box<AnsweredQuestion>),
    /// Viewers keep asking about a product that is not on camera.
    Demand {
        sku: String,
        asking: usize,
        window: Duration,
    },
}

/// A viewer question and its answer from the FAQ.
#[derive(Debug)]
pub struct AnsweredQuestion {
    /// As the first viewer asked it (masked where it had to be).
    pub question: String,
    /// The language it was written in.
    pub question_lang: String,
    pub faq_id: String,
    pub sku: Option<String>,
    pub text: String,
    /// The locale of `text`.
    pub lang: String,
    /// Viewers who asked it so far.
    pub asked: usize,
    /// Where the latest viewer asked it, and their message.
    pub platform: String,
    pub reply_to: ReplyTo,
    /// When their message was received.
    pub received: Instant,
}

/// Unique prompt ids per device: the engine's start time and a counter.
struct PromptIds {
    epoch: u64,
    next: u64,
}

impl PromptIds {
    fn next(&mut self) -> String {
        self.next += 1;
        format!("{:x}-{}", self.epoch, self.next)
    }
}

pub struct Engine {
    store: Arc<Store>,
    products: HashMap<String, Product>,
    default_locale: String,
    locale: String,
    outbox: Outbox,
    metrics: Arc<Metrics>,
    ids: PromptIds,
    /// What vision currently sees: sku, confidence, since.
    seen: Option<(String, f32, u64)>,
    /// A product whose barcode was read, and when it was last read.
    scanned: Option<(String, Instant)>,
    /// How long a barcode keeps its product on air after the last read.
    barcode_hold: Duration,
    pinned: Option<String>,
    on_air: Option<String>,
    shared_on_air: crate::chat::OnAir,
    card: usize,
    last_prompt: Option<PromptMessage>,
    /// Where a product the host pins while vision named another (or none) is kept.
    corrections: Option<crate::recognition::studio::Corrections>,
}

impl Engine {
    pub fn new(
        store: Arc<Store>,
        products: Vec<Product>,
        default_locale: String,
        locale: Option<String>,
        outbox: Outbox,
        metrics: Arc<Metrics>,
    ) -> Self {
        let locale = locale.unwrap_or_else(|| default_locale.clone());
        Self {
            store,
            products: products.into_iter().map(|p| (p.sku.clone(), p)).collect(),
            default_locale,
            locale,
            outbox,
            metrics,
            ids: PromptIds { epoch: now_ms(), next: 0 },
            seen: None,
            scanned: None,
            barcode_hold: Duration::from_millis(1500),
            pinned: None,
            on_air: None,
            shared_on_air: crate::chat::OnAir::default(),
            card: 0,
            last_prompt: None,
            corrections: None,
        }
    }

    /// Where the engine tells others which product is on air.
    pub fn on_air(&self) -> crate::chat::OnAir {
        self.shared_on_air.clone()
    }

    /// Frames where the host pins a product vision did not name are kept as suggestions.
    pub fn set_corrections(&mut self, corrections: crate::recognition::studio::Corrections) {
        self.corrections = Some(corrections);
    }

    /// How long a barcode keeps its product on air after it was last read.
    pub fn set_barcode_hold(&mut self, hold: Duration) {
        self.barcode_hold = hold;
    }

    /// Publishes the initial state: nothing in view.
    pub fn start(&mut self) {
        self.show(None, 0.0, ProductSource::Vision, now_ms(), None);
    }

    pub fn handle(&mut self, input: EngineInput) {
        match input {
            EngineInput::Vision(change) => {
                self.seen = change.sku.clone().map(|s| (s, change.confidence, change.since_ms));
                if self.pinned.is_none() && self.scanned.is_none() {
                    self.show(
                        change.sku,
                        change.confidence,
                        ProductSource::Vision,
                        change.since_ms,
                        Some(change.captured),
                    );
                }
            }
            EngineInput::Barcode { text, captured } => {
                let Some(sku) = self.products.values().find(|p| p.barcodes.contains(&text)).map(|p| p.sku.clone())
                else {
                    tracing::debug!(%text, "a barcode that no product carries");
                    return;
                };
                let fresh = self.scanned.as_ref().is_none_or(|(current, _)| *current != sku);
                self.scanned = Some((sku.clone(), captured));
                if self.pinned.is_none() && fresh {
                    self.show(Some(sku), 1.0, ProductSource::Barcode, now_ms(), Some(captured));
                }
            }
            EngineInput::Tick => {
                if self.scanned.as_ref().is_some_and(|(_, at)| at.elapsed() > self.barcode_hold) {
                    self.scanned = None;
                    if self.pinned.is_none() {
                        self.show_seen();
                    }
                }
            }
            EngineInput::Command(Command::Pin(Some(sku))) => {
                if !self.products.contains_key(&sku) {
                    tracing::warn!(%sku, "cmd/product names a product that is not in the catalog");
                    self.metrics.inputs_rejected.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let seen = self.seen.as_ref().map(|(seen, _, _)| seen.as_str());
                if seen != Some(sku.as_str())
                    && let Some(corrections) = &self.corrections
                {
                    corrections.keep(&sku, seen);
                }
                self.pinned = Some(sku.clone());
                self.show(Some(sku), 1.0, ProductSource::Manual, now_ms(), None);
            }
            EngineInput::Command(Command::Pin(None)) => {
                if self.pinned.take().is_some() {
                    match self.scanned.clone() {
                        Some((sku, _)) => self.show(Some(sku), 1.0, ProductSource::Barcode, now_ms(), None),
                        None => self.show_seen(),
                    }
                }
            }
            EngineInput::Command(Command::TogglePin) => {
                let toggled = match (&self.pinned, self.shared_on_air.get()) {
                    (Some(_), _) => Command::Pin(None),
                    (None, Some(sku)) => Command::Pin(Some(sku)),
                    (None, None) => {
                        tracing::info!("nothing on air to pin");
                        return;
                    }
                };
                self.handle(EngineInput::Command(toggled));
            }
            EngineInput::Command(Command::Cue(action)) => self.cue(action),
            EngineInput::CatalogChanged => self.reload(),
            EngineInput::Answer(answer) => self.answer(*answer),
            EngineInput::Demand { sku, asking, window } => {
                let Some(product) = self.products.get(&sku) else { return };
                let name = product.name.first(&self.locale, &self.default_locale).unwrap_or(&sku).to_owned();
                let minutes = window.as_secs().div_ceil(60);
                let text = if self.locale.starts_with("zh") {
                    format!("{asking} 位观众在 {minutes} 分钟内问到「{name}」，可以展示一下")
                } else {
                    format!("{asking} viewers asked about {name} in the last {minutes} min: consider showing it")
                };
                let lang = self.locale.clone();
                let message = self.prompt_message(PromptKind::Alert, Some(sku), text, lang);
                self.outbox.json(Topic::Prompt, &message);
            }
        }
    }

    /// An answer goes to the host as a prompt and to the viewer's platform on `chat/out`, unless
    /// it contains an advertising-law term: then only the host gets it, as an alert naming it.
    fn answer(&mut self, answer: AnsweredQuestion) {
        let hits = cuebox_catalog::lint_text(&answer.text, &answer.lang);
        let held = !hits.is_empty();
        let (kind, text) = if held {
            let reasons: Vec<String> = hits.iter().map(ToString::to_string).collect();
            tracing::warn!(faq = %answer.faq_id, terms = %reasons.join("; "), "answer held back: it contains prohibited advertising terms");
            self.metrics.chat_answers_held.fetch_add(1, Ordering::Relaxed);
            (PromptKind::Alert, format!("⚠ {}: {} — {}", answer.faq_id, reasons.join("; "), answer.text))
        } else {
            (PromptKind::Answer, answer.text.clone())
        };
        let mut message = self.prompt_message(kind, answer.sku, text, answer.lang.clone());
        message.question = Some(answer.question);
        message.faq_id = Some(answer.faq_id);
        message.asked = Some(answer.asked);
        message.question_lang = Some(answer.question_lang);
        message.platform = Some(answer.platform.clone());
        message.reply_to = Some(answer.reply_to.clone());
        self.outbox.json(Topic::Prompt, &message);
        if !held {
            let out = ChatOutMessage {
                platform: answer.platform,
                reply_to: answer.reply_to,
                text: answer.text,
                lang: answer.lang,
            };
            self.outbox.json(Topic::ChatOut, &out);
        }
        self.metrics.chat_to_mqtt_ms.record(answer.received.elapsed().as_secs_f64() * 1e3);
    }

    fn prompt_message(&mut self, kind: PromptKind, sku: Option<String>, text: String, lang: String) -> PromptMessage {
        PromptMessage {
            id: self.ids.next(),
            ts: now_ms(),
            sku,
            kind,
            text,
            lang,
            card: None,
            position: None,
            count: None,
            next: None,
            question: None,
            faq_id: None,
            asked: None,
            question_lang: None,
            platform: None,
            reply_to: None,
        }
    }

    /// Back to what vision sees.
    fn show_seen(&mut self) {
        let (sku, confidence, since) = match self.seen.clone() {
            Some((s, c, t)) => (Some(s), c, t),
            None => (None, 0.0, now_ms()),
        };
        self.show(sku, confidence, ProductSource::Vision, since, None);
    }

    fn reload(&mut self) {
        let header = match self.store.header() {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(%error, "catalog unreadable after a change");
                return;
            }
        };
        match self.store.products() {
            Ok(products) => {
                self.products = products.into_iter().map(|p| (p.sku.clone(), p)).collect();
                self.default_locale = header.default_locale;
                tracing::info!(products = self.products.len(), generation = header.generation, "catalog reloaded");
            }
            Err(error) => {
                tracing::error!(%error, "catalog unreadable after a change");
                return;
            }
        }
        let (sku, source) = match (&self.pinned, &self.seen) {
            (Some(pinned), _) => (Some(pinned.clone()), ProductSource::Manual),
            (None, Some((seen, _, _))) => (Some(seen.clone()), ProductSource::Vision),
            (None, None) => (None, ProductSource::Vision),
        };
        let sku = sku.filter(|s| self.products.contains_key(s));
        if sku.is_none() {
            self.pinned = None;
        }
        let confidence = self.seen.as_ref().map_or(1.0, |(_, c, _)| *c);
        self.show(sku, confidence, source, now_ms(), None);
    }

    fn show(
        &mut self,
        sku: Option<String>,
        confidence: f32,
        source: ProductSource,
        since: u64,
        captured: Option<Instant>,
    ) {
        let product = sku.as_ref().and_then(|s| self.products.get(s)).cloned();
        let name = product.as_ref().and_then(|p| p.name.first(&self.locale, &self.default_locale)).map(str::to_owned);
        let message = ProductMessage { sku: sku.clone(), name: name.clone(), confidence, source, since };
        self.outbox.json(Topic::Product, &message);
        if let Some(captured) = captured {
            self.metrics.glass_to_mqtt_ms.record(captured.elapsed().as_secs_f64() * 1e3);
        }
        let overlay = match &product {
            Some(p) => OverlayMessage {
                sku: Some(p.sku.clone()),
                title: name,
                price: p.price.as_ref().map(|pr| display_price(&pr.amount, &pr.currency)),
                promo: p.promo.as_ref().and_then(|t| t.first(&self.locale, &self.default_locale)).map(str::to_owned),
                ts: Some(now_ms()),
            },
            None => OverlayMessage::default(),
        };
        self.outbox.json(Topic::Overlay, &overlay);
        self.shared_on_air.set(sku.clone());
        self.on_air = sku;
        self.card = 0;
        self.last_prompt = None;
        if product.is_some() {
            self.prompt(PromptKind::Intro);
        }
        if self.last_prompt.is_none() {
            self.outbox.json(Topic::Cue, &serde_json::json!({}));
        }
        tracing::info!(sku = self.on_air.as_deref().unwrap_or("none"), confidence, ?source, "product on air");
    }

    fn cue(&mut self, action: CueAction) {
        let Some(count) = self.on_air.as_ref().and_then(|s| self.products.get(s)).map(|p| p.script.len()) else {
            tracing::debug!(?action, "cue command with no product on air");
            return;
        };
        if count == 0 {
            return;
        }
        match action {
            CueAction::Next => self.card = (self.card + 1).min(count - 1),
            CueAction::Prev => self.card = self.card.saturating_sub(1),
            CueAction::Repeat => {
                if let Some(mut again) = self.last_prompt.clone() {
                    again.id = self.ids.next();
                    again.ts = now_ms();
                    self.outbox.json(Topic::Prompt, &again);
                    self.outbox.json(Topic::Cue, &again);
                    return;
                }
            }
        }
        self.prompt(PromptKind::Cue);
    }

    fn prompt(&mut self, kind: PromptKind) {
        let Some(product) = self.on_air.as_ref().and_then(|s| self.products.get(s)) else { return };
        let Some(card) = product.script.get(self.card) else { return };
        let Some((lang, variants)) = card.text.resolve(&self.locale, &self.default_locale) else { return };
        let variant = match self.store.next_variant(&product.sku, &card.id, variants.len()) {
            Ok(i) => i,
            Err(error) => {
                tracing::warn!(%error, "cue rotation state unavailable; using the first variant");
                0
            }
        };
        let next = product
            .script
            .get(self.card + 1)
            .and_then(|c| c.text.first(&self.locale, &self.default_locale))
            .map(str::to_owned);
        let Some(text) = variants.get(variant).or(variants.last()).cloned() else { return };
        let (sku, card_id, position, count, lang) =
            (product.sku.clone(), card.id.clone(), self.card + 1, product.script.len(), lang.to_owned());
        let hits = cuebox_catalog::lint_text(&text, &lang);
        if !hits.is_empty() {
            let reasons: Vec<String> = hits.iter().map(ToString::to_string).collect();
            tracing::warn!(%sku, card = %card_id, terms = %reasons.join("; "), "cue held back: it contains prohibited advertising terms");
            let alert = format!("⚠ {card_id}: {} — {text}", reasons.join("; "));
            let mut message = self.prompt_message(PromptKind::Alert, Some(sku), alert, lang);
            message.card = Some(card_id);
            message.position = Some(position);
            message.count = Some(count);
            self.outbox.json(Topic::Prompt, &message);
            return;
        }
        let mut message =
            self.prompt_message(if self.card == 0 { kind } else { PromptKind::Cue }, Some(sku), text, lang);
        message.card = Some(card_id);
        message.position = Some(position);
        message.count = Some(count);
        message.next = next;
        self.outbox.json(Topic::Prompt, &message);
        self.outbox.json(Topic::Cue, &message);
        self.last_prompt = Some(message);
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use cuebox_catalog::parse_catalog;
    use serde_json::Value;
    use tokio::sync::mpsc;

    use super::*;
    use crate::mqtt::Outgoing;

    const CATALOG: &str = "version: 1\ndefault_locale: zh-CN\nproducts:\n  - sku: A\n    name: {zh-CN: 茶, en: Tea}\n    price: {amount: 10.00, currency: CNY}\n    script:\n      - {id: intro, text: {zh-CN: [甲, 乙], en: [one, two]}}\n      - {id: more, text: 更多}\n  - {sku: B, name: Bowl, barcodes: [\"6901234567892\"]}\n";

    fn engine(dir: &std::path::Path, locale: Option<&str>) -> (Engine, mpsc::Receiver<Outgoing>) {
        let catalog = parse_catalog(CATALOG).unwrap().catalog;
        let store = Arc::new(Store::open(dir).unwrap());
        store.import(&catalog, &[], "d", "c.yaml").unwrap();
        let metrics = Arc::new(Metrics::new());
        let (outbox, rx) = Outbox::channel(64, metrics.clone());
        (Engine::new(store, catalog.products, catalog.default_locale, locale.map(Into::into), outbox, metrics), rx)
    }

    fn drain(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<(Topic, Value)> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push((m.topic, serde_json::from_slice(&m.payload).unwrap()));
        }
        out
    }

    fn seen(sku: Option<&str>) -> EngineInput {
        EngineInput::Vision(VisionChange {
            sku: sku.map(Into::into),
            confidence: 0.9,
            since_ms: 1,
            captured: Instant::now(),
        })
    }

    #[test]
    fn a_product_change_publishes_product_overlay_and_intro() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, mut rx) = engine(dir.path(), Some("en"));
        e.handle(seen(Some("A")));
        let out = drain(&mut rx);
        assert_eq!(
            out.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![Topic::Product, Topic::Overlay, Topic::Prompt, Topic::Cue]
        );
        assert_eq!(out[3].1, out[2].1, "the retained cue is the prompt just sent");
        assert_eq!(out[0].1["name"], "Tea");
        assert_eq!(out[1].1["price"], "¥10.00");
        assert_eq!(
            (out[2].1["kind"].as_str(), out[2].1["text"].as_str(), out[2].1["lang"].as_str()),
            (Some("intro"), Some("one"), Some("en"))
        );
        e.handle(seen(None));
        let out = drain(&mut rx);
        assert_eq!(out[0].1["sku"], Value::Null);
        assert_eq!(out[1].1, serde_json::json!({}));
        assert_eq!((out[2].0, &out[2].1), (Topic::Cue, &serde_json::json!({})), "the retained cue is cleared");
        assert_eq!(out.len(), 3, "no prompt when nothing is in view");
    }

    #[test]
    fn cues_walk_the_cards_and_variants_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, mut rx) = engine(dir.path(), None);
        e.handle(seen(Some("A")));
        e.handle(EngineInput::Command(Command::Cue(CueAction::Next)));
        e.handle(EngineInput::Command(Command::Cue(CueAction::Next)));
        e.handle(EngineInput::Command(Command::Cue(CueAction::Repeat)));
        e.handle(EngineInput::Command(Command::Cue(CueAction::Prev)));
        let texts: Vec<String> = drain(&mut rx)
            .into_iter()
            .filter(|(t, _)| *t == Topic::Prompt)
            .map(|(_, v)| v["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(texts, vec!["甲", "更多", "更多", "更多", "乙"]);
    }

    #[test]
    fn a_cue_with_a_prohibited_term_becomes_an_alert_and_answers_carry_their_question() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = parse_catalog("version: 1\ndefault_locale: zh-CN\nproducts:\n  - {sku: C, name: 茶, script: [{id: intro, text: 全网最低价，国家级品质}]}\n").unwrap().catalog;
        let store = Arc::new(Store::open(dir.path()).unwrap());
        store.import(&catalog, &[], "d", "c.yaml").unwrap();
        let metrics = Arc::new(Metrics::new());
        let (outbox, mut rx) = Outbox::channel(64, metrics.clone());
        let mut e = Engine::new(store, catalog.products, catalog.default_locale, None, outbox, metrics);
        e.handle(seen(Some("C")));
        let prompts: Vec<Value> = drain(&mut rx)
            .into_iter()
            .filter(|(t, _)| matches!(t, Topic::Prompt | Topic::Cue))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(prompts.len(), 2, "an alert, and the retained cue cleared: {prompts:?}");
        assert_eq!(prompts[0]["kind"], "alert");
        let alert = prompts[0]["text"].as_str().unwrap();
        assert!(alert.contains("全网最低") && alert.contains("国家级"), "{alert}");
        assert_eq!(prompts[1], serde_json::json!({}));
        let answered = |text: &str| {
            EngineInput::Answer(Box::new(AnsweredQuestion {
                question: "包邮吗".into(),
                question_lang: "zh".into(),
                faq_id: "ship".into(),
                sku: None,
                text: text.into(),
                lang: "zh-CN".into(),
                asked: 3,
                platform: "douyin".into(),
                reply_to: ReplyTo { id: Some("m7".into()), user: Some("小鹿".into()), ts: 5 },
                received: Instant::now(),
            }))
        };
        e.handle(answered("包邮"));
        let out = drain(&mut rx);
        let (answer, chat_out) = (&out[0], &out[1]);
        assert_eq!(answer.0, Topic::Prompt);
        assert_eq!(
            (answer.1["kind"].as_str(), answer.1["question"].as_str(), answer.1["asked"].as_u64()),
            (Some("answer"), Some("包邮吗"), Some(3))
        );
        assert_eq!((answer.1["question_lang"].as_str(), answer.1["platform"].as_str()), (Some("zh"), Some("douyin")));
        assert_eq!(answer.1["reply_to"], serde_json::json!({"id": "m7", "user": "小鹿", "ts": 5}));
        assert!(answer.1.get("card").is_none());
        assert_eq!(chat_out.0, Topic::ChatOut);
        assert_eq!(
            chat_out.1,
            serde_json::json!({"platform": "douyin", "reply_to": {"id": "m7", "user": "小鹿", "ts": 5}, "text": "包邮", "lang": "zh-CN"})
        );

        e.handle(answered("全网最低价，包邮"));
        let out = drain(&mut rx);
        assert_eq!(out.len(), 1, "an answer with a prohibited term does not go out to chat: {out:?}");
        assert_eq!(out[0].1["kind"], "alert");
        assert!(out[0].1["text"].as_str().unwrap().contains("全网最低"), "{}", out[0].1);
        assert_eq!(e.metrics.chat_answers_held.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_barcode_wins_over_vision_until_it_is_no_longer_read() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, mut rx) = engine(dir.path(), None);
        e.set_barcode_hold(Duration::from_millis(50));
        e.handle(seen(Some("A")));
        drain(&mut rx);
        e.handle(EngineInput::Barcode { text: "6901234567892".into(), captured: Instant::now() });
        let out = drain(&mut rx);
        assert_eq!((out[0].1["sku"].as_str(), out[0].1["source"].as_str()), (Some("B"), Some("barcode")));
        e.handle(EngineInput::Barcode { text: "6901234567892".into(), captured: Instant::now() });
        e.handle(seen(Some("A")));
        assert!(drain(&mut rx).is_empty(), "a barcode still being read holds its product");
        e.handle(EngineInput::Barcode { text: "000000".into(), captured: Instant::now() });
        assert!(drain(&mut rx).is_empty(), "unknown payloads change nothing");
        std::thread::sleep(Duration::from_millis(60));
        e.handle(EngineInput::Tick);
        let out = drain(&mut rx);
        assert_eq!((out[0].1["sku"].as_str(), out[0].1["source"].as_str()), (Some("A"), Some("vision")));
    }

    #[test]
    fn cues_preview_the_next_card_and_a_reloaded_catalog_takes_effect() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, mut rx) = engine(dir.path(), Some("en"));
        e.handle(seen(Some("A")));
        let intro = drain(&mut rx).into_iter().find(|(t, _)| *t == Topic::Prompt).unwrap().1;
        assert_eq!(intro["next"], "更多", "the next card in the host's locale or the default one");
        let renamed = CATALOG.replace("Tea}", "Green tea}");
        e.store.import(&parse_catalog(&renamed).unwrap().catalog, &[], "d2", "c.yaml").unwrap();
        e.handle(EngineInput::CatalogChanged);
        let out = drain(&mut rx);
        assert_eq!(out[0].1["name"], "Green tea", "the product on air is shown again with its new data");
    }

    #[test]
    fn a_pin_overrides_vision_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, mut rx) = engine(dir.path(), None);
        e.handle(EngineInput::Command(Command::Pin(Some("B".into()))));
        e.handle(seen(Some("A")));
        let out = drain(&mut rx);
        assert_eq!(out.len(), 3, "product, overlay, cleared cue (B has no script): {out:?}");
        assert_eq!((out[0].1["sku"].as_str(), out[0].1["source"].as_str()), (Some("B"), Some("manual")));
        e.handle(EngineInput::Command(Command::Pin(None)));
        let out = drain(&mut rx);
        assert_eq!((out[0].1["sku"].as_str(), out[0].1["source"].as_str()), (Some("A"), Some("vision")));
        e.handle(EngineInput::Command(Command::Pin(Some("UNKNOWN".into()))));
        assert!(drain(&mut rx).is_empty());
    }
}
