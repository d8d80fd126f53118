//! Slack: every Dodo Payments payment, refund, dispute, subscription and
//! license key event becomes a message in a Slack channel, posted to an
//! incoming webhook: a notification text plus Block Kit blocks (a header,
//! the facts as two-column fields, longer texts, a dashboard button, and
//! when it happened).
//!
//! The mapping is the table in this crate's README.md; what each event says
//! comes from `hookwasm_sdk::notice`.

use hookwasm_sdk::notice::{self, Fact, Notice};
use hookwasm_sdk::prelude::*;
use hookwasm_sdk::text::{allot, escaped_len, fit, fit_with, utf16_len};

/// Slack's limits (Block Kit reference, chat.postMessage), in characters.
mod limit {
    /// The top-level `text`: Slack truncates past 40,000 and recommends
    /// at most 4,000.
    pub const TEXT: usize = 4_000;
    /// A header block's `plain_text`.
    pub const HEADER: usize = 150;
    /// A section block's `text`, and any text object.
    pub const SECTION_TEXT: usize = 3_000;
    /// A section's `fields`: at most 10, each at most 2,000.
    pub const FIELDS: usize = 10;
    pub const FIELD: usize = 2_000;
    /// A button's `url`.
    pub const BUTTON_URL: usize = 3_000;
    /// Blocks per message.
    pub const BLOCKS: usize = 50;
    /// All block text of one message together. Not in Slack's reference:
    /// messages with ~11,000-13,000 characters of block text are refused
    /// with `msg_blocks_too_long` (slackapi/bolt-js#2509, #2867); this
    /// stays well below.
    pub const BLOCKS_TEXT: usize = 8_000;
}

/// The setting holding the dashboard link template.
const DASHBOARD_URL: &str = "dashboard_url";

/// The Slack plugin.
pub struct Slack;

hookwasm_sdk::plugin!(
    Slack,
    name = "slack",
    description = "Dodo Payments events to Slack messages (incoming webhook, Block Kit)",
    form = include_str!("../form.json"),
);

impl Plugin for Slack {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let event_type = event.event_type.as_str();
        if !notice::handles(event_type) {
            return Ok(skip(event_type));
        }
        // The webhook URL is the credential: no default, kept as it is.
        let url = event.require_endpoint_url()?;
        let dodo = event.envelope()?;
        let Some(notice) = notice::notice(event_type, &dodo)? else {
            return Ok(skip(event_type));
        };
        let link = match event.setting(DASHBOARD_URL) {
            Some(template) => notice::link(DASHBOARD_URL, template, event_type, &dodo)?,
            None => None,
        };
        // No idempotency key: Slack's incoming webhooks have none.
        Ok(Request::post(url).json(message(&notice, link)).into())
    }
}

fn skip(event_type: &str) -> Outcome {
    Outcome::skip(format!(
        "slack has no message for {event_type}: it posts {}",
        notice::FAMILIES
    ))
}

/// Slack's three control characters, escaped as its formatting reference
/// asks (also what stops payload text from forming `<!channel>` mentions or
/// links).
fn escape(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    }
}

/// `*Label*\nvalue`, the value escaped (identifiers as code) and cut so the
/// whole text is at most `max`.
fn labelled(fact: &Fact, max: usize) -> String {
    let (open, close) = if fact.id { ("`", "`") } else { ("", "") };
    let label = format!("*{}*\n{open}", fact.label);
    let room = max.saturating_sub(utf16_len(&label) + close.len());
    // A backtick inside an identifier would end the code span.
    let value = if fact.id {
        fact.value.replace('`', "'")
    } else {
        fact.value.clone()
    };
    format!("{label}{}{close}", fit_with(&value, room, escape))
}

/// What a fact's text needs at most: its natural length, within `cap`.
fn want(fact: &Fact, cap: usize) -> usize {
    let markup = utf16_len(fact.label) + 3 + if fact.id { 2 } else { 0 };
    (markup + escaped_len(&fact.value, escape)).min(cap)
}

fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text})
}

/// The message: `text` (notifications, and clients without blocks) and
/// `blocks`.
fn message(notice: &Notice, link: Option<String>) -> Value {
    let header = fit(
        &format!("{} {}", notice.tone.emoji(), notice.title),
        limit::HEADER,
    );

    let mut context = format!(
        "Dodo Payments · `{}`",
        // A backtick would end the code span.
        fit_with(&notice.event_type.replace('`', "'"), 100, escape)
    );
    if let (Some(millis), Some(utc)) = (notice.unix_millis, notice.time_utc()) {
        // Shown in each reader's time zone; the text after `|` where a client
        // cannot format dates.
        let seconds = millis.div_euclid(1_000);
        context.push_str(&format!(
            " · <!date^{seconds}^{{date_short_pretty}} at {{time}}|{utc}>"
        ));
    }
    let context = fit(&context, limit::SECTION_TEXT);
    let link = link.filter(|url| utf16_len(url) <= limit::BUTTON_URL);
    let button_text = "Open in dashboard";

    // The facts and longer texts share what the header, the context line
    // and the button leave of the message's text budget.
    let fields = &notice.facts[..notice.facts.len().min(limit::FIELDS)];
    let wants: Vec<usize> = fields
        .iter()
        .map(|fact| want(fact, limit::FIELD))
        .chain(notice.details.iter().map(|d| want(d, limit::SECTION_TEXT)))
        .collect();
    let fixed = utf16_len(&header) + utf16_len(&context) + utf16_len(button_text);
    let shares = allot(&wants, limit::BLOCKS_TEXT.saturating_sub(fixed));
    let (field_shares, detail_shares) = shares.split_at(fields.len());

    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": header, "emoji": true},
    })];
    if !fields.is_empty() {
        let fields: Vec<Value> = fields
            .iter()
            .zip(field_shares)
            .map(|(fact, &share)| mrkdwn(labelled(fact, share)))
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    for (detail, &share) in notice.details.iter().zip(detail_shares) {
        blocks.push(json!({"type": "section", "text": mrkdwn(labelled(detail, share))}));
    }
    if let Some(url) = link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": button_text},
                "url": url,
                "action_id": "dashboard",
            }],
        }));
    }
    blocks.push(json!({"type": "context", "elements": [mrkdwn(context)]}));
    blocks.truncate(limit::BLOCKS);

    json!({
        "text": fit_with(&notice.summary, limit::TEXT, escape),
        "blocks": blocks,
    })
}

#[cfg(test)]
mod tests;
