//! Payloads of the contract's MQTT topics (CONTRACT §6).

use serde::{Deserialize, Serialize};

/// Inputs larger than this are dropped unread.
pub const MAX_INPUT_BYTES: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CueAction {
    Next,
    Prev,
    Repeat,
}

/// A command from the host (tablet, button, integration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Cue(CueAction),
    /// Pin a product (`None`: back to what vision sees).
    Pin(Option<String>),
    /// The box's button: unpin when a product is pinned, else pin the product on air.
    TogglePin,
}

/// A viewer's message from `chat/in` or `POST /api/chat`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    /// Where the viewer wrote it; the source's own name when absent.
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    pub text: String,
    #[serde(default)]
    pub ts: Option<u64>,
}

/// Longest viewer message answered, in characters.
pub const MAX_CHAT_CHARS: usize = 500;

/// A `chat/in` payload: a JSON object as in the contract, or plain UTF-8 text.
pub fn parse_chat(payload: &[u8]) -> Result<ChatMessage, InputError> {
    if payload.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge(payload.len()));
    }
    let text = std::str::from_utf8(payload).map_err(|_| InputError::Malformed("not UTF-8 text".into()))?;
    let message = if text.trim_start().starts_with('{') {
        serde_json::from_str::<ChatMessage>(text).map_err(|e| InputError::Malformed(e.to_string()))?
    } else {
        ChatMessage { platform: None, id: None, user: None, text: text.to_owned(), ts: None }
    };
    message.check()?;
    Ok(message)
}

impl ChatMessage {
    /// Whether the message can be answered: some text, not too long, a platform name that can be
    /// told back.
    pub fn check(&self) -> Result<(), InputError> {
        check_chat_text(&self.text)?;
        match &self.platform {
            Some(platform) if !cuebox_catalog::is_identifier(platform) => {
                Err(InputError::Malformed(format!("platform {platform:?} must match [A-Za-z0-9._-]{{1,64}}")))
            }
            _ => Ok(()),
        }
    }
}

/// A viewer message's text must have something besides spaces and at most `MAX_CHAT_CHARS`.
pub fn check_chat_text(text: &str) -> Result<(), InputError> {
    if text.trim().is_empty() {
        return Err(InputError::Malformed("empty message".into()));
    }
    let chars = text.chars().count();
    if chars > MAX_CHAT_CHARS {
        return Err(InputError::TooLong(chars));
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("payload of {0} bytes is over the {MAX_INPUT_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("message of {0} characters is over the {MAX_CHAT_CHARS}-character limit")]
    TooLong(usize),
    #[error("payload is not valid: {0}")]
    Malformed(String),
    #[error("topic is not an input")]
    UnknownTopic,
}

impl InputError {
    /// What kind of problem it is, for counting and logging each kind once.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "oversized",
            Self::TooLong(_) => "too long",
            Self::Malformed(_) => "malformed",
            Self::UnknownTopic => "unknown topic",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CueCommand {
    action: CueAction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductCommand {
    sku: serde_json::Value,
}

/// The command topics the daemon takes (relative to the device prefix).
pub const COMMAND_TOPICS: [&str; 2] = ["cmd/cue", "cmd/product"];

/// Parses an input by its topic (relative to the device prefix), strictly.
pub fn parse_command(topic: &str, payload: &[u8]) -> Result<Command, InputError> {
    if payload.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge(payload.len()));
    }
    let malformed = |e: serde_json::Error| InputError::Malformed(e.to_string());
    if !COMMAND_TOPICS.contains(&topic) {
        return Err(InputError::UnknownTopic);
    }
    // serde would also read a struct from a JSON array; the contract's inputs are objects.
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(malformed)?;
    if !value.is_object() {
        return Err(InputError::Malformed("expected a JSON object".into()));
    }
    match topic {
        "cmd/cue" => Ok(Command::Cue(serde_json::from_value::<CueCommand>(value).map_err(malformed)?.action)),
        "cmd/product" => match serde_json::from_value::<ProductCommand>(value).map_err(malformed)?.sku {
            serde_json::Value::Null => Ok(Command::Pin(None)),
            serde_json::Value::String(s) if cuebox_catalog::is_identifier(&s) => Ok(Command::Pin(Some(s))),
            other => Err(InputError::Malformed(format!("sku must be a SKU string or null, not {other}"))),
        },
        _ => Err(InputError::UnknownTopic),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductSource {
    Vision,
    Barcode,
    Manual,
}

/// The retained `product` message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProductMessage {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub confidence: f32,
    pub source: ProductSource,
    pub since: u64,
}

/// The retained `overlay` message; every field absent means nothing is shown (`{}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OverlayMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// For display, e.g. "¥128.00".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptKind {
    Intro,
    Cue,
    Answer,
    Alert,
}

/// A `prompt` message for the host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PromptMessage {
    pub id: String,
    pub ts: u64,
    pub sku: Option<String>,
    pub kind: PromptKind,
    pub text: String,
    pub lang: String,
    /// For cues: the cue card this text is from, its 1-based position and how many the
    /// product has, and the next card's text (first variant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// For answers: the viewer's question, the FAQ entry, and how many viewers asked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faq_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asked: Option<usize>,
    /// For answers: the language the question was written in, the platform it came from and
    /// the message to reply to there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question_lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
}

/// The viewer message an answer replies to, as its platform named it, and when it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplyTo {
    pub id: Option<String>,
    pub user: Option<String>,
    pub ts: u64,
}

/// A `chat/out` message: an answer for a connector to post in the platform's chat.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatOutMessage {
    pub platform: String,
    pub reply_to: ReplyTo,
    pub text: String,
    pub lang: String,
}

/// Display form of a price: a symbol for common currencies, else the code.
pub fn display_price(amount: &str, currency: &str) -> String {
    match currency {
        "CNY" | "JPY" => format!("¥{amount}"),
        "USD" => format!("${amount}"),
        "EUR" => format!("€{amount}"),
        "GBP" => format!("£{amount}"),
        other => format!("{amount} {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_strictly() {
        assert_eq!(parse_command("cmd/cue", br#"{"action":"next"}"#), Ok(Command::Cue(CueAction::Next)));
        assert_eq!(parse_command("cmd/product", br#"{"sku":"TEA-001"}"#), Ok(Command::Pin(Some("TEA-001".into()))));
        assert_eq!(parse_command("cmd/product", br#"{"sku":null}"#), Ok(Command::Pin(None)));
        for (topic, bad) in [
            ("cmd/cue", &br#"{"action":"skip"}"#[..]),
            ("cmd/cue", br#"{"action":"next","extra":1}"#),
            ("cmd/cue", b"next"),
            ("cmd/product", br#"{"sku":42}"#),
            ("cmd/product", br#"{"sku":"no spaces allowed"}"#),
            ("cmd/product", br#"{}"#),
            ("cmd/product", br#"[null]"#),
            ("cmd/cue", br#"["next"]"#),
        ] {
            assert!(
                matches!(parse_command(topic, bad), Err(InputError::Malformed(_))),
                "{topic} {:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_command("cmd/cue", &vec![b' '; MAX_INPUT_BYTES + 1]),
            Err(InputError::TooLarge(MAX_INPUT_BYTES + 1))
        );
        assert_eq!(parse_command("cmd/other", b"{}"), Err(InputError::UnknownTopic));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
                ".{0,40}".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                    prop::collection::btree_map("(action|sku|[a-z]{1,6})", inner, 0..4)
                        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn any_bytes_on_any_input_topic_are_answered_without_panic(topic in "cmd/(cue|product)|cmd/[a-z]{0,8}", payload in prop::collection::vec(any::<u8>(), 0..2048)) {
                let _ = parse_command(&topic, &payload);
                let _ = parse_chat(&payload);
            }

            #[test]
            fn any_json_is_answered_and_only_the_contract_shapes_are_accepted(value in json_value()) {
                let payload = serde_json::to_vec(&value).unwrap();
                if let Ok(Command::Cue(action)) = parse_command("cmd/cue", &payload) {
                    let name = match action { CueAction::Next => "next", CueAction::Prev => "prev", CueAction::Repeat => "repeat" };
                    prop_assert_eq!(&value, &serde_json::json!({ "action": name }));
                }
                if let Ok(Command::Pin(sku)) = parse_command("cmd/product", &payload) {
                    prop_assert_eq!(&value, &serde_json::json!({ "sku": sku }));
                }
            }

            #[test]
            fn every_well_formed_command_is_accepted(action in "next|prev|repeat", sku in "[A-Za-z0-9._-]{1,64}", spaces in " {0,3}") {
                let cue = format!("{{{spaces}\"action\":{spaces}\"{action}\"}}");
                prop_assert!(matches!(parse_command("cmd/cue", cue.as_bytes()), Ok(Command::Cue(_))));
                let pin = format!("{{\"sku\":{spaces}\"{sku}\"}}");
                prop_assert_eq!(parse_command("cmd/product", pin.as_bytes()), Ok(Command::Pin(Some(sku))));
            }
        }
    }

    #[test]
    fn chat_messages_are_json_objects_or_plain_text() {
        let json = parse_chat(br#"{"id": "m1", "user": "viewer", "text": "\u5305\u90ae\u5417", "ts": 5}"#).unwrap();
        assert_eq!((json.id.as_deref(), json.text.as_str()), (Some("m1"), "包邮吗"));
        assert_eq!(parse_chat("什么时候发货？".as_bytes()).unwrap().text, "什么时候发货？");
        assert!(matches!(parse_chat(br#"{"text": "hi", "extra": 1}"#), Err(InputError::Malformed(_))));
        assert!(matches!(parse_chat(br#"{"user": "x"}"#), Err(InputError::Malformed(_))));
        assert!(matches!(parse_chat(b"\xff\xfe"), Err(InputError::Malformed(_))));
        assert!(matches!(parse_chat(b"   "), Err(InputError::Malformed(_))));
        assert!(matches!(parse_chat("问".repeat(MAX_CHAT_CHARS + 1).as_bytes()), Err(InputError::TooLong(_))));
        let tagged = parse_chat(br#"{"platform": "tiktok", "text": "hi"}"#).unwrap();
        assert_eq!(tagged.platform.as_deref(), Some("tiktok"));
        assert!(matches!(parse_chat(br#"{"platform": "no spaces", "text": "hi"}"#), Err(InputError::Malformed(_))));
    }

    #[test]
    fn empty_overlay_is_an_empty_object() {
        assert_eq!(serde_json::to_string(&OverlayMessage::default()).unwrap(), "{}");
        let p = ProductMessage { sku: None, name: None, confidence: 0.0, source: ProductSource::Vision, since: 5 };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"sku":null,"name":null,"confidence":0.0,"source":"vision","since":5}"#
        );
    }

    #[test]
    fn prices_display_with_their_symbol() {
        assert_eq!(display_price("128.00", "CNY"), "¥128.00");
        assert_eq!(display_price("9.50", "CHF"), "9.50 CHF");
    }
}
